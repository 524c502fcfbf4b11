/**
 * The nginx configuration for restthumbs, generated from the same settings as the server: nginx
 * serves thumbnails that already exist (`try_files`), forwards misses to Node, and sends files
 * Node points at with `X-Accel-Redirect` from an `internal` location. The tests start a real
 * nginx with exactly this text.
 * @module
 */
import path from 'node:path'

import { invalidOption, mergeDefaults } from '../validate.js'
import { configError } from './config.js'
import { acceptPattern, enabledFormats, type NegotiableFormat } from './negotiate.js'
import { ConfigError } from './errors.js'
import { TEMP_FOLDER } from './storage/temp-files.js'

/** Options of {@link nginxConfig}. */
export interface NginxConfigOptions {
  /**
   * `listen` argument of the server block.
   * @default '80'
   */
  listen?: string
  /**
   * `server_name` of the server block.
   * @default '_'
   */
  serverName?: string
  /**
   * Address of the restthumbs server (`host:port`).
   * @default '127.0.0.1:8080'
   */
  backend?: string
  /**
   * URL prefix of thumbnails; must match the server's `basePath`.
   * @default '/thumbnails/'
   */
  basePath?: string
  /**
   * Internal location targeted by `X-Accel-Redirect`; must match the server's `sendfileBase`.
   * @default '/_restthumbs_internal/'
   */
  sendfileBase?: string
  /**
   * Directory of rendered thumbnails (made absolute against the current directory).
   * @default 'thumbnails'
   */
  outputRoot?: string
  /**
   * `Cache-Control: public, max-age=` seconds for files nginx serves itself.
   * @default 86400
   */
  maxAge?: number
  /**
   * Formats of the server's `negotiate` setting: nginx then serves `<file>.avif` / `<file>.webp`
   * to clients whose `Accept` lists them, with `Vary: Accept`. Formats this build cannot encode
   * are left out, as the server does.
   * @default []
   */
  negotiate?: readonly NegotiableFormat[]
  /**
   * Base URL of the thumbnails in an S3 bucket, path style (`http://s3.local:8333/bucket/prefix`),
   * for `outputBucket` with `responseMode: 'nginx'`: every thumbnail request goes to restthumbs
   * (which knows whether the object exists), and the internal location proxies to the bucket
   * instead of reading a local folder. The bucket must allow anonymous reads from nginx.
   * @default undefined (thumbnails on local disk)
   */
  bucketUrl?: string
  /**
   * Emit a whole `nginx.conf` (events, http, types, temp paths) instead of one server block.
   * The value is the directory for pid, logs and temp files.
   * @default undefined
   */
  standaloneDir?: string
}

/** Defaults of {@link NginxConfigOptions}. */
export const NGINX_DEFAULTS: Readonly<Required<Omit<NginxConfigOptions, 'standaloneDir' | 'bucketUrl'>>> = Object.freeze({
  listen: '80',
  serverName: '_',
  backend: '127.0.0.1:8080',
  basePath: '/thumbnails/',
  sendfileBase: '/_restthumbs_internal/',
  outputRoot: 'thumbnails',
  maxAge: 86400,
  negotiate: Object.freeze([]) as readonly NegotiableFormat[],
})

function quoted(value: string, name: string): string {
  if (/["\\\n\r;{}$]/.test(value)) {
    throw invalidOption(name, 'a path without quotes, backslashes, semicolons, braces or $', value, configError)
  }
  return `"${value}"`
}

function slashed(p: string): string {
  const s = p.startsWith('/') ? p : `/${p}`
  return s.endsWith('/') ? s : `${s}/`
}

function regexEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

// A location's own `types` replace the inherited ones: older mime.types files lack AVIF.
// The proxy to the handler, shared by the disk and the bucket layouts: keep-alive upstream
// connections and the client's host, address and scheme for the handler's URLs and logs.
const PROXY_TO_BACKEND = `proxy_pass http://restthumbs_backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;`

const NEGOTIATED_TYPES = 'types { image/jpeg jpg jpeg; image/png png; image/webp webp; image/avif avif; }'

/*
 * `$restthumbs_variant`: the suffix of the stored variant a request should get (`.avif`, `.webp`
 * or nothing), read from Accept as the app reads it, for URLs of the negotiated extensions only.
 * `$restthumbs_vary`: `Accept` for those URLs and their variant files (checked when the headers go
 * out, after try_files or X-Accel-Redirect changed $uri); an empty value adds no header.
 */
function negotiationMaps(formats: readonly NegotiableFormat[]): string {
  const accept = formats.map((f) => `    "~*${acceptPattern(f)}" .${f};`).join('\n')
  const variants = formats.map((f) => `\\.${f}`).join('|')
  return `
# Accept negotiation: nginx serves <file>.avif / <file>.webp next to <file> when the client lists
# the type explicitly (image/* does not count) without q=0, in this order of preference.
map $http_accept $restthumbs_accept {
    default "";
${accept}
}

map $uri $restthumbs_variant {
    default "";
    "~\\.(?:jpe?g|png)$" $restthumbs_accept;
}

map $uri $restthumbs_vary {
    default "";
    "~\\.(?:jpe?g|png)(?:${variants})?$" Accept;
}
`
}

/**
 * Renders the nginx configuration.
 * @param options - see {@link NginxConfigOptions}
 */
export function nginxConfig(options: NginxConfigOptions = {}): string {
  const o = mergeDefaults<Required<Omit<NginxConfigOptions, 'standaloneDir' | 'bucketUrl'>> & Pick<NginxConfigOptions, 'standaloneDir' | 'bucketUrl'>>(
    NGINX_DEFAULTS,
    options,
  )
  const root = path.resolve(o.outputRoot)
  const base = slashed(o.basePath)
  const internal = slashed(o.sendfileBase)
  if (!/^[\w.:[\]-]+$/.test(o.backend)) throw invalidOption('backend', 'host:port', o.backend, configError)
  if (!/^[\w.:[\] -]+$/.test(o.listen)) throw invalidOption('listen', 'a listen address', o.listen, configError)
  const cache = `add_header Cache-Control "public, max-age=${Math.floor(o.maxAge)}" always;`
  const formats = enabledFormats(o.negotiate)
  const variant = formats.length ? '$restthumbs_variant' : ''
  const vary = formats.length ? `\n        ${NEGOTIATED_TYPES}\n        add_header Vary $restthumbs_vary always;` : ''
  const server = o.bucketUrl ? bucketServer(o.bucketUrl, o.backend, o.listen, o.serverName, base, internal) : `# restthumbs: nginx serves thumbnails that exist; misses go to Node, which renders them
# once and answers X-Accel-Redirect into the internal location below.
upstream restthumbs_backend {
    server ${o.backend};
    keepalive 16;
}
${formats.length ? negotiationMaps(formats) : ''}
server {
    listen ${o.listen};
    server_name ${o.serverName};

    # Dot segments are never thumbnails: the app refuses them, and the output root keeps its
    # temp files in ${TEMP_FOLDER}/, which must never be served half written.
    location ~ ^${regexEscape(base)}(?:.*/)?\\. {
        return 404;
    }

    # The captured path is nginx's decoded, normalised URI, so it names the file on disk.
    # disable_symlinks: a symlink planted under the root could point anywhere; the app refuses
    # those (400), so nginx must not follow them either (a miss then goes to the app).
    location ~ ^${regexEscape(base)}(?<restthumbs_file>.+)$ {
        root ${quoted(root, 'outputRoot')};
        disable_symlinks on from=$document_root;
        try_files /$restthumbs_file${variant} @restthumbs_backend;
        ${cache}${vary}
    }

    location @restthumbs_backend {
        ${PROXY_TO_BACKEND}
    }

    # Only reachable through X-Accel-Redirect from the backend, never from a client.
    location ${internal} {
        internal;
        alias ${quoted(root + '/', 'outputRoot')};
        disable_symlinks on from=$document_root;
        ${cache}${vary}
    }
}
`
  if (!o.standaloneDir) return server
  return standalone(server, o.standaloneDir)
}

/* The S3 variant: nginx cannot tell whether an object exists without asking, so restthumbs
   answers every thumbnail request (a hot-cache hit costs no round trip) and nginx fetches the
   bytes from the bucket through the internal location. */
function bucketServer(bucketUrl: string, backend: string, listen: string, serverName: string, base: string, internal: string): string {
  let url: URL
  try {
    url = new URL(bucketUrl)
  } catch {
    throw new ConfigError(`Expected an http(s) URL for bucketUrl but received ${JSON.stringify(bucketUrl)}`)
  }
  if (!/^https?:$/.test(url.protocol) || !/^[\w./-]*$/.test(url.pathname) || !/^[\w.:[\]-]+$/.test(url.host)) {
    throw new ConfigError(`Expected an http(s) URL of a bucket (scheme, host, /bucket/prefix) for bucketUrl but received ${JSON.stringify(bucketUrl)}`)
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  return `# restthumbs with thumbnails in an S3 bucket: every thumbnail request goes to Node, which
# renders it once (uploading it to the bucket) and answers X-Accel-Redirect into the internal
# location below, which proxies to the bucket.
upstream restthumbs_backend {
    server ${backend};
    keepalive 16;
}

upstream restthumbs_bucket {
    server ${url.hostname.replace(/^\[|\]$/g, '')}:${port};
    keepalive 16;
}

server {
    listen ${listen};
    server_name ${serverName};

    location ${base} {
        ${PROXY_TO_BACKEND}
    }

    # Only reachable through X-Accel-Redirect from the backend, never from a client.
    location ${internal} {
        internal;
        proxy_pass ${url.protocol}//restthumbs_bucket${slashed(url.pathname)};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host ${url.host};
        proxy_set_header Authorization "";
        proxy_hide_header x-amz-request-id;
        proxy_hide_header x-amz-id-2;
        proxy_hide_header Set-Cookie;
        # Cache-Control comes from the backend's X-Accel-Redirect answer, not from the object.
        proxy_hide_header Cache-Control;
    }
}
`
}

function standalone(server: string, standaloneDir: string): string {
  const dir = path.resolve(standaloneDir)
  const q = (f: string) => quoted(path.join(dir, f), 'standaloneDir')
  return `worker_processes 1;
pid ${q('nginx.pid')};
error_log ${q('error.log')} warn;

events {
    worker_connections 1024;
}

http {
    types {
        image/jpeg jpg jpeg;
        image/png png;
        image/webp webp;
        image/avif avif;
        image/gif gif;
    }
    default_type application/octet-stream;
    access_log ${q('access.log')};
    client_body_temp_path ${q('client_body')};
    proxy_temp_path ${q('proxy')};
    fastcgi_temp_path ${q('fastcgi')};
    uwsgi_temp_path ${q('uwsgi')};
    scgi_temp_path ${q('scgi')};
    sendfile on;
    keepalive_timeout 30;

${server
  .split('\n')
  .map((l) => (l ? `    ${l}` : l))
  .join('\n')}}
`
}
