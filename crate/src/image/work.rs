//! The work guard of one render: cancellation and a CPU budget, checked from hooks inside the
//! decoders (libjpeg's progress monitor, the DC-only decoder per scan, the PNG row loop) and
//! between pipeline stages.
//!
//! A crafted file can cost far more CPU than its pixel count suggests (a progressive JPEG that
//! repeats one refinement scan thousands of times; libjpeg-turbo's tools cap scans with
//! `-maxscans` for that reason). Limits read from headers cannot see that, so the decoders also
//! check, as they go, that the render was not aborted and that the CPU time of this thread stays
//! within a budget that grows with the input and output pixel counts.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

/// CPU time every render may use, however small.
const BASE_BUDGET: Duration = Duration::from_millis(1000);
/// CPU time allowed per source pixel (all frames) and per output pixel. Full-size decoding of
/// an ordinary photo costs well under 10 ns a pixel; this leaves room for slow progressive files
/// and a busy machine, while a file that costs orders of magnitude more is stopped.
const NANOS_PER_PIXEL: u64 = 100;
/// Hook calls between two reads of the thread CPU clock (a system call); the abort flag is read
/// on every call.
const CLOCK_EVERY: u32 = 16;

/// Cancellation flag plus CPU budget of one render. Lives on the thread that runs the render.
pub struct Work<'a> {
    cancel: &'a AtomicBool,
    start: Duration,
    budget: Duration,
    calls: Cell<u32>,
}

/// CPU time used by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_THREAD_CPUTIME_ID exists on every Linux and macOS.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl<'a> Work<'a> {
    /// A guard with no budget yet (only cancellation) until [`Work::set_budget`] is called.
    pub fn new(cancel: &'a AtomicBool) -> Work<'a> {
        Work {
            cancel,
            start: thread_cpu_time(),
            budget: Duration::MAX,
            calls: Cell::new(0),
        }
    }

    /// Sets the CPU budget from the pixel counts, once the header and the plan are known.
    pub fn set_budget(&mut self, input_pixels: u64, output_pixels: u64) {
        let nanos = input_pixels
            .saturating_add(output_pixels)
            .saturating_mul(NANOS_PER_PIXEL);
        self.budget = BASE_BUDGET.saturating_add(Duration::from_nanos(nanos));
    }

    /// The budget in force.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// `ERR_ABORTED` once the render was aborted; `ERR_TOO_LARGE` once its CPU time is over
    /// the budget. Cheap enough to call per scan or per row batch.
    pub fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::new(ErrorCode::Aborted, "The thumbnail was aborted"));
        }
        let n = self.calls.get().wrapping_add(1);
        self.calls.set(n);
        if n.is_multiple_of(CLOCK_EVERY) {
            self.check_budget()?;
        }
        Ok(())
    }

    /// Reads the clock now (at stage boundaries).
    pub fn check_now(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::new(ErrorCode::Aborted, "The thumbnail was aborted"));
        }
        self.check_budget()
    }

    fn check_budget(&self) -> Result<()> {
        let used = thread_cpu_time().saturating_sub(self.start);
        if used > self.budget {
            return Err(Error::too_large(format!(
                "Decoding used {} ms of CPU, over the budget of {} ms for this image's size; the file is built to be slow to decode (for example a progressive JPEG with a huge number of scans)",
                used.as_millis(),
                self.budget.as_millis()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_is_seen_on_the_next_check() {
        let flag = AtomicBool::new(false);
        let work = Work::new(&flag);
        assert!(work.check().is_ok());
        flag.store(true, Ordering::Relaxed);
        assert_eq!(work.check().unwrap_err().code, ErrorCode::Aborted);
    }

    #[test]
    fn the_budget_grows_with_the_pixels_and_is_enforced() {
        let flag = AtomicBool::new(false);
        let mut work = Work::new(&flag);
        work.set_budget(4_000_000, 1_000_000);
        assert_eq!(work.budget(), BASE_BUDGET + Duration::from_millis(500));
        work.budget = Duration::from_millis(5);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let err = loop {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            if let Err(e) = work.check() {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{x}");
        };
        assert_eq!(err.code, ErrorCode::TooLarge);
        assert!(err.message.contains("budget"), "{}", err.message);
    }
}
