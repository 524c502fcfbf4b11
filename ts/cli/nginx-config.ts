/**
 * The nginx configuration for restthumbs, generated from the same settings as the server: nginx
 * serves thumbnails that already exist (`try_files`), forwards misses to Node, and sends files
 * Node points at with `X-Accel-Redirect` from an `internal` location. The tests start a real
 * nginx with exactly this text.
 * @module
 */
import path from 'node:path'

import { ConfigError } from '../server/config.js'

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
   * Emit a whole `nginx.conf` (events, http, types, temp paths) instead of one server block.
   * The value is the directory for pid, logs and temp files.
   * @default undefined
   */
  standaloneDir?: string
}

/** Defaults of {@link NginxConfigOptions}. */
export const NGINX_DEFAULTS: Readonly<Required<Omit<NginxConfigOptions, 'standaloneDir'>>> = Object.freeze({
  listen: '80',
  serverName: '_',
  backend: '127.0.0.1:8080',
  basePath: '/thumbnails/',
  sendfileBase: '/_restthumbs_internal/',
  outputRoot: 'thumbnails',
  maxAge: 86400,
})

function quoted(value: string, name: string): string {
  if (/["\\\n\r;{}$]/.test(value)) {
    throw new ConfigError(`Expected ${name} without quotes, backslashes, semicolons, braces or $ but received ${JSON.stringify(value)}`)
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

/**
 * Renders the nginx configuration.
 * @param options - see {@link NginxConfigOptions}
 */
export function nginxConfig(options: NginxConfigOptions = {}): string {
  const o: Required<Omit<NginxConfigOptions, 'standaloneDir'>> & Pick<NginxConfigOptions, 'standaloneDir'> = {
    ...NGINX_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  }
  const root = path.resolve(o.outputRoot)
  const base = slashed(o.basePath)
  const internal = slashed(o.sendfileBase)
  if (!/^[\w.:[\]-]+$/.test(o.backend)) throw new ConfigError(`Expected host:port for backend but received ${JSON.stringify(o.backend)}`)
  if (!/^[\w.:[\] -]+$/.test(o.listen)) throw new ConfigError(`Expected a listen address for listen but received ${JSON.stringify(o.listen)}`)
  const cache = `add_header Cache-Control "public, max-age=${Math.floor(o.maxAge)}" always;`
  const server = `# restthumbs: nginx serves thumbnails that exist; misses go to Node, which renders them
# once and answers X-Accel-Redirect into the internal location below.
upstream restthumbs_backend {
    server ${o.backend};
    keepalive 16;
}

server {
    listen ${o.listen};
    server_name ${o.serverName};

    # The captured path is nginx's decoded, normalised URI, so it names the file on disk.
    location ~ ^${regexEscape(base)}(?<restthumbs_file>.+)$ {
        root ${quoted(root, 'outputRoot')};
        try_files /$restthumbs_file @restthumbs_backend;
        ${cache}
    }

    location @restthumbs_backend {
        proxy_pass http://restthumbs_backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }

    # Only reachable through X-Accel-Redirect from the backend, never from a client.
    location ${internal} {
        internal;
        alias ${quoted(root + '/', 'outputRoot')};
        ${cache}
    }
}
`
  if (!o.standaloneDir) return server
  const dir = path.resolve(o.standaloneDir)
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
