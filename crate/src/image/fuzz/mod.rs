//! A small deterministic mutation fuzzer for the hand-written decoder paths, on stable Rust.
//!
//! `cargo fuzz` needs a nightly compiler; this runs inside `cargo test` instead. Each target
//! starts from valid images made in the test, mutates them (bit flips, interesting values,
//! truncation, deleted and repeated ranges, splices between seeds, inserted JPEG markers, PNG
//! chunks with their CRC fixed so the mutation reaches the decoder), and asserts for every input:
//! - no panic (a panic hook notes panics even where `catch_panic` would turn them into errors),
//! - bounded work (every input under [`slow_limit`]; a watchdog aborts the process with the
//!   input saved if one hangs),
//! - a typed error or a valid image (each target checks its own result).
//!
//! `cargo test` gives each target a fraction of a second with a fixed seed, so CI stays fast and
//! repeatable; `scripts/fuzz.sh [seconds] [target]` runs the same code for as long as asked
//! with a new seed. Environment: `RESTTHUMBS_FUZZ_SECONDS` (per target), `RESTTHUMBS_FUZZ_SEED`,
//! `RESTTHUMBS_FUZZ_TARGET` (substring of the target names to run). A failing input is written
//! to `target/fuzz-failures/` and should be committed under `regressions/` once fixed: every
//! file there named `<target>-*.bin` is replayed before the target fuzzes.

mod mutate;
mod targets;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

pub(crate) use mutate::{Kind, Rng};

/// Seconds each target fuzzes in a plain `cargo test`.
const DEFAULT_SECONDS: f64 = 0.4;

thread_local! {
    static PANICKED: Cell<bool> = const { Cell::new(false) };
}

/// Notes panics of the current thread. `resume_unwind` (libjpeg's error exit, the work guard's
/// abort) skips hooks, so only real panics are counted.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| p.set(true));
            previous(info);
        }));
    });
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Longest one input may take before it counts as unbounded work. Generous: tests run unoptimised
/// on a loaded machine, and seeds are small images, so real cases take milliseconds.
pub(crate) fn slow_limit() -> Duration {
    Duration::from_secs_f64(env_f64("RESTTHUMBS_FUZZ_SLOW_SECONDS").unwrap_or(3.0))
}

fn failure_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("fuzz-failures")
}

fn save(target: &str, input: &[u8], why: &str) -> PathBuf {
    let dir = failure_dir();
    let _ = std::fs::create_dir_all(&dir);
    let hash = input.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let path = dir.join(format!("{target}-{hash:016x}.bin"));
    let _ = std::fs::write(&path, input);
    eprintln!("fuzz {target}: {why}; input saved to {}", path.display());
    path
}

/// The committed inputs that once failed `target`.
fn regressions(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crate/src/image/fuzz/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{target}-")) && n.ends_with(".bin"))
        })
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// The input under test and when it started, shared with the watchdog.
type Current = Arc<Mutex<Option<(Instant, Vec<u8>)>>>;

/// A watchdog for one target: when an input runs past three times the slow limit, it saves the
/// input and aborts the process (a hung call cannot be interrupted from inside the thread).
struct Watchdog {
    current: Current,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Watchdog {
    fn start(target: &'static str) -> Watchdog {
        let current: Current = Arc::default();
        let stop: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let (c, s) = (current.clone(), stop.clone());
        std::thread::spawn(move || {
            let limit = slow_limit() * 3;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let guard = c.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((started, input)) = guard.as_ref() {
                    if started.elapsed() > limit {
                        save(target, input, "hung");
                        std::process::abort();
                    }
                }
            }
        });
        Watchdog { current, stop }
    }

    fn enter(&self, input: &[u8]) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), input.to_vec()));
    }

    fn leave(&self) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs one input through `check`, turning a panic, a slow input or a failed check into a test
/// failure that names the saved input.
fn one(
    target: &'static str,
    dog: &Watchdog,
    input: &[u8],
    check: &dyn Fn(&[u8]) -> Result<(), String>,
) {
    PANICKED.with(|p| p.set(false));
    dog.enter(input);
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(input)));
    let took = started.elapsed();
    dog.leave();
    let why = match outcome {
        _ if PANICKED.with(Cell::get) => Some("panicked".to_string()),
        Err(_) => Some("unwound out of the target".to_string()),
        Ok(Err(msg)) => Some(msg),
        Ok(Ok(())) if took > slow_limit() => Some(format!("took {took:?}")),
        Ok(Ok(())) => None,
    };
    if let Some(why) = why {
        let path = save(target, input, &why);
        panic!("fuzz target {target}: {why} (input: {})", path.display());
    }
}

/// Fuzzes `check` from `seeds` for the configured time; returns the number of inputs run.
pub(crate) fn run(
    target: &'static str,
    seeds: &[Vec<u8>],
    mutator: mutate::Kind,
    check: &dyn Fn(&[u8]) -> Result<(), String>,
) -> u64 {
    if let Ok(only) = std::env::var("RESTTHUMBS_FUZZ_TARGET") {
        if !target.contains(only.as_str()) {
            return 0;
        }
    }
    install_hook();
    let dog = Watchdog::start(target);
    for input in seeds.iter().chain(&regressions(target)) {
        one(target, &dog, input, check);
    }
    let seconds = env_f64("RESTTHUMBS_FUZZ_SECONDS").unwrap_or(DEFAULT_SECONDS);
    let seed = env_f64("RESTTHUMBS_FUZZ_SEED").map_or(0x5EED, |s| s as u64);
    let mut rng = Rng::new(seed ^ target.len() as u64);
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let input = mutate::mutate(&mut rng, seeds, mutator);
        one(target, &dog, &input, check);
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
    eprintln!("fuzz {target}: {n} inputs in {seconds} s ({rate:.0}/s, seed {seed})");
    n
}
