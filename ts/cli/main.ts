/**
 * The `restthumbs` command line: `serve`, `config`, `thumbnail`, `url`, `nginx-config`, `warm`,
 * `worker` and `createcachetable`.
 * @module
 */
import { Command, Option } from 'commander'

import { nginxConfig } from '../server/nginx-config.js'
import { DEFAULT_TABLE } from '../cache/database-driver.js'
import { configSchema, effectiveSettings, formatSettings } from './config-command.js'
import { createCacheTableCommand } from './createcachetable.js'
import { addSettingFlags, settingFlags } from './flags.js'
import { serveCommand } from './serve.js'
import { cliSettings, SERVE_DEFAULTS } from './settings.js'
import { runThumbnail, type ThumbnailCliOptions } from './thumbnail.js'
import { reportError } from './report.js'
import { URL_OPTIONS, urlCommand } from './url.js'
import { addWarmCommand } from './warm.js'
import { addWorkerCommand } from './worker.js'

/** Builds the commander program (exported so tests can run it in process). */
export function buildProgram(): Command {
  const program = new Command('restthumbs')
    .description('On-the-fly thumbnails from signed URLs, over a Rust core.')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nSettings come from (lowest first) defaults, --config <file.json>, RESTTHUMBS_* environment\n' +
        'variables (e.g. RESTTHUMBS_PORT, RESTTHUMBS_KEYS=k1,k2, RESTTHUMBS_CACHE=redis://host:6379/0),\n' +
        'then flags. `restthumbs serve --help` lists every setting with its variable;\n' +
        '`restthumbs config` prints the effective settings and where each came from.',
    )

  const serve = program
    .command('serve')
    .description('run the thumbnail server on every core (default: memory cache, sources in media/, output in thumbnails/)')
    .option('-c, --config <file>', 'JSON config file with server settings (schema: schema/config.schema.json)')
  addSettingFlags(serve, SERVE_DEFAULTS).action(async (opts: { config?: string }, command: Command) => {
    await serveCommand({ ...settingFlags(command), config: opts.config })
  })

  const config = program
    .command('config')
    .description('print the effective serve settings with their sources (secrets masked), or the config file schema')
    .option('-c, --config <file>', 'JSON config file with server settings')
    .option('--json', 'print JSON instead of a table')
    .option('--schema', 'print the JSON Schema of the config file')
  addSettingFlags(config, SERVE_DEFAULTS).action((opts: { config?: string; json?: boolean; schema?: boolean }, command: Command) => {
    if (opts.schema) {
      process.stdout.write(JSON.stringify(configSchema(), null, 2) + '\n')
      return
    }
    const settings = effectiveSettings(settingFlags(command), opts.config, process.env, (m) => process.stderr.write(`warning: ${m}\n`))
    process.stdout.write(opts.json ? JSON.stringify(settings, null, 2) + '\n' : formatSettings(settings))
  })

  program
    .command('thumbnail')
    .description('render thumbnails: one input to an output file, or many inputs (files, directories, globs) into a directory, keeping their folder structure')
    .argument('<paths...>', 'input image(s) followed by the output file or directory')
    .option('-s, --size <WxH>', 'size as WxH, Wx or xH', '256x256')
    .addOption(new Option('-m, --method <method>', 'resize method').choices(['crop', 'scale', 'smart']).default('crop'))
    .option('-q, --quality <1-100>', 'JPEG/WebP/AVIF quality', '85')
    .addOption(new Option('-f, --format <format>', 'output format (default: from the output extension, else jpeg)').choices(['jpeg', 'png', 'webp', 'avif']))
    .option('--no-progress', 'never show the progress bar (shown on a terminal when there are several inputs)')
    .option('--overwrite', 'replace outputs that already exist (default: refuse before any work)')
    .option('-j, --jobs <n>', 'renders in flight (default: the number of cores)')
    .action(async (paths: string[], opts: ThumbnailCliOptions) => {
      await runThumbnail(paths, opts)
    })

  program
    .command('url')
    .description('print a signed thumbnail URL for the configured keys')
    .argument('<source>', 'source path relative to the source root, e.g. animals/kitten.jpg')
    .argument('<size>', 'WxH, Wx or xH')
    .argument('<method>', 'crop, scale or smart')
    .argument('<ext>', 'output extension: .jpg, .jpeg, .png, .webp or .avif')
    .option(URL_OPTIONS.config.flags, URL_OPTIONS.config.help)
    .option(URL_OPTIONS.base.flags, URL_OPTIONS.base.help)
    .action((source: string, size: string, method: string, ext: string, opts: { config?: string; base?: string }) => {
      process.stdout.write(urlCommand(source, size, method, ext, opts) + '\n')
    })

  const nginx = program
    .command('nginx-config')
    .description('print an nginx server block: serve existing thumbnails, proxy misses, X-Accel-Redirect location')
    .option('-c, --config <file>', 'JSON config file with server settings')
    .option('--listen <address>', 'nginx listen address', '80')
    .option('--server-name <name>', 'nginx server_name', '_')
    .option('--backend <host:port>', 'address of the restthumbs server (default: host:port from the settings)')
    .option('--standalone <dir>', 'print a whole nginx.conf with pid, logs and temp files in <dir>')
    .option('--bucket-url <url>', 'thumbnails are in this S3 bucket (http://host:port/bucket/prefix, anonymous reads): proxy to it')
  addSettingFlags(nginx)
    .action((opts: { config?: string; listen: string; serverName: string; backend?: string; standalone?: string; bucketUrl?: string }, command: Command) => {
      const { config } = cliSettings(settingFlags(command), opts.config)
      process.stdout.write(
        nginxConfig({
          listen: opts.listen,
          serverName: opts.serverName,
          backend: opts.backend ?? `${config.host}:${config.port}`,
          basePath: config.basePath,
          sendfileBase: config.sendfileBase,
          outputRoot: config.outputRoot,
          maxAge: config.maxAge,
          negotiate: config.negotiate,
          standaloneDir: opts.standalone,
          bucketUrl: opts.bucketUrl,
        }),
      )
    })
  addWarmCommand(program)
  addWorkerCommand(program)
  program
    .command('createcachetable')
    .description("create DatabaseCache tables and their index, like Django's createcachetable (existing tables are left alone)")
    .argument('[tables...]', `table names (default: the location's ?table=, else ${DEFAULT_TABLE})`)
    .option('--cache <location>', 'postgres://user@host/db or sqlite:path (default: the configured cache, e.g. RESTTHUMBS_CACHE)')
    .option('-c, --config <file>', 'JSON config file with server settings')
    .option('--dry-run', 'print the SQL instead of running it')
    .action(async (tables: string[], opts: { cache?: string; config?: string; dryRun?: boolean }) => {
      for (const line of await createCacheTableCommand(tables, opts)) process.stdout.write(`${line}\n`)
    })
  return program
}

/**
 * Starts a `serve` worker process (`cluster-worker.ts`). The published command runs it from this
 * bundle (dist/cluster-worker.cjs is a stub that calls this), so the package carries one copy of
 * the server code, not two.
 */
export function runClusterWorker(): Promise<unknown> {
  return import('./cluster-worker.js')
}

/**
 * Runs the CLI. Errors print `error: <message>` (with the stable code) and exit 1.
 * @param argv - full `process.argv`
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    reportError(err)
  }
}
