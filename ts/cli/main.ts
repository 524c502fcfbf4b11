/**
 * The `restthumbs` command line: `serve`, `thumbnail`, `url` and `nginx-config`.
 * @module
 */
import { Command, InvalidArgumentError, Option } from 'commander'

import { SERVER_DEFAULTS, type ServerConfig } from '../server/config.js'
import { nginxConfig } from './nginx-config.js'
import { serveCommand } from './serve.js'
import { cliSettings } from './settings.js'
import { thumbnailCommand } from './thumbnail.js'
import { urlCommand } from './url.js'

function int(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`Expected non-negative integer for ${name} but received ${value}`)
    return n
  }
}

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`Expected positive number for ${name} but received ${value}`)
    return n
  }
}

/** Builds the commander program (exported so tests can run it in process). */
export function buildProgram(): Command {
  const program = new Command('restthumbs')
    .description('On-the-fly thumbnails from signed URLs, over a Rust core.')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nSettings come from (lowest first) defaults, --config <file.json>, RESTTHUMBS_* environment\n' +
        'variables (e.g. RESTTHUMBS_PORT, RESTTHUMBS_KEYS=k1,k2, RESTTHUMBS_CACHE=redis://host:6379/0),\n' +
        'then flags.',
    )

  program
    .command('serve')
    .description('run the thumbnail server (default: memory cache, sources in media/, output in thumbnails/)')
    .option('-c, --config <file>', 'JSON config file with server settings')
    .option('-p, --port <port>', `TCP port (env RESTTHUMBS_PORT, default ${SERVER_DEFAULTS.port})`, int('port'))
    .option('--host <host>', `interface to listen on (default ${SERVER_DEFAULTS.host})`)
    .option('--base-path <path>', `URL prefix of thumbnails (default ${SERVER_DEFAULTS.basePath})`)
    .option('--source-root <dir>', `directory of source images (default ${SERVER_DEFAULTS.sourceRoot})`)
    .option('--source-url <url>', 'fetch sources from this HTTP origin instead of --source-root')
    .option('--output-root <dir>', `directory thumbnails are written to (default ${SERVER_DEFAULTS.outputRoot})`)
    .addOption(
      new Option('--response-mode <mode>', `how files are sent (default ${SERVER_DEFAULTS.responseMode})`).choices([
        'stream',
        'nginx',
        'apache',
      ]),
    )
    .option('--sendfile-base <path>', `internal nginx location for X-Accel-Redirect (default ${SERVER_DEFAULTS.sendfileBase})`)
    .option('--cache <location>', `'memory' or redis://host:port/db (default ${SERVER_DEFAULTS.cache})`)
    .addOption(
      new Option('--waiter <mode>', `what a request does while another renders the same thumbnail (default ${SERVER_DEFAULTS.waiter})`).choices([
        'wait',
        '503',
        '404',
      ]),
    )
    .option('--lock-timeout <seconds>', `render lock lifetime and wait limit (default ${SERVER_DEFAULTS.lockTimeout})`, positive('lock-timeout'))
    .option('--max-age <seconds>', `Cache-Control max-age of thumbnails (default ${SERVER_DEFAULTS.maxAge})`, int('max-age'))
    .option('--trust-cache', 'serve warm hits from cached records without a stat of the file')
    .option('--no-access-log', 'do not print one line per request')
    .action(async (opts: Partial<ServerConfig> & { config?: string; accessLog?: boolean }) => {
      // commander sets accessLog=true by default for --no-access-log; only pass it when negated.
      const { accessLog, ...rest } = opts
      await serveCommand({ ...rest, ...(accessLog === false ? { accessLog: false } : {}) })
    })

  program
    .command('thumbnail')
    .description('render thumbnails: one input to an output file, or many inputs (files, directories, globs) into a directory')
    .argument('<paths...>', 'input image(s) followed by the output file or directory')
    .option('-s, --size <WxH>', 'size as WxH, Wx or xH', '256x256')
    .addOption(new Option('-m, --method <method>', 'resize method').choices(['crop', 'scale', 'smart']).default('crop'))
    .option('-q, --quality <1-100>', 'JPEG/WebP quality', '85')
    .addOption(new Option('-f, --format <format>', 'output format (default: from the output extension, else jpeg)').choices(['jpeg', 'png', 'webp', 'avif']))
    .option('--no-progress', 'never show the progress bar (shown on a terminal when there are several inputs)')
    .action(async (paths: string[], opts: { size: string; method: string; quality: string; format?: string; progress: boolean }) => {
      const results = await thumbnailCommand(paths, { ...opts, progress: opts.progress === false ? false : undefined })
      for (const r of results) process.stdout.write(`${r.output} ${r.width}x${r.height} ${r.format}\n`)
    })

  program
    .command('url')
    .description('print a signed thumbnail URL for the configured keys')
    .argument('<source>', 'source path relative to the source root, e.g. animals/kitten.jpg')
    .argument('<size>', 'WxH, Wx or xH')
    .argument('<method>', 'crop, scale or smart')
    .argument('<ext>', 'output extension: .jpg, .jpeg, .png, .webp or .avif')
    .option('-c, --config <file>', 'JSON config file with server settings')
    .option('-b, --base <url>', 'URL prefix (default: the configured base path)')
    .action((source: string, size: string, method: string, ext: string, opts: { config?: string; base?: string }) => {
      process.stdout.write(urlCommand(source, size, method, ext, opts) + '\n')
    })

  program
    .command('nginx-config')
    .description('print an nginx server block: serve existing thumbnails, proxy misses, X-Accel-Redirect location')
    .option('-c, --config <file>', 'JSON config file with server settings')
    .option('--listen <address>', 'nginx listen address', '80')
    .option('--server-name <name>', 'nginx server_name', '_')
    .option('--backend <host:port>', 'address of the restthumbs server (default: host:port from the settings)')
    .option('--standalone <dir>', 'print a whole nginx.conf with pid, logs and temp files in <dir>')
    .action((opts: { config?: string; listen: string; serverName: string; backend?: string; standalone?: string }) => {
      const { config } = cliSettings({}, opts.config)
      process.stdout.write(
        nginxConfig({
          listen: opts.listen,
          serverName: opts.serverName,
          backend: opts.backend ?? `${config.host}:${config.port}`,
          basePath: config.basePath,
          sendfileBase: config.sendfileBase,
          outputRoot: config.outputRoot,
          maxAge: config.maxAge,
          standaloneDir: opts.standalone,
        }),
      )
    })
  return program
}

/**
 * Runs the CLI. Errors print `error: <message>` (with the stable code) and exit 1.
 * @param argv - full `process.argv`
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    const e = err as Error & { code?: string }
    process.stderr.write(`error: ${e.code && /^ERR_/.test(e.code) ? `${e.code}: ` : ''}${e.message}\n`)
    process.exitCode = 1
  }
}
