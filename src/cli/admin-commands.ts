/**
 * `streamshare partner …` and `streamshare share …`: the admin API from a terminal.
 * Readable tables by default, `--json` for scripts; on error the problem detail
 * goes to stderr and the exit code is non-zero.
 */
import os from 'node:os'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { AdminApiError, AdminClient, DEFAULT_ADMIN_URL } from '../admin/client.js'
import { details, format, table } from './output.js'

const COMMON = {
  'admin-url': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const satisfies ParseArgsConfig['options']

const PARTNER_USAGE = `usage:
  streamshare partner create --id ID --name NAME --contact EMAIL [--attr key=value]... [--origin https://app.example]...
  streamshare partner list
  streamshare partner show ID
  streamshare partner update ID [--name NAME] [--contact EMAIL] [--attr key=value]... [--origin URL]...
  streamshare partner delete ID
options: --admin-url URL (or STREAMSHARE_ADMIN_URL, default ${DEFAULT_ADMIN_URL}), --json
the admin token is read from STREAMSHARE_ADMIN_TOKEN`

const SHARE_USAGE = `usage:
  streamshare share create --partner ID --product NAME:POLICY[:read|read,write]... [--history P7D|none|all]
                           [--expires-at ISO] [--description TEXT] [--token-ttl SECONDS]
                           [--max-connections N] [--messages-per-second N] [--bytes-per-second N] [--requests-per-minute N]
  streamshare share list [--partner ID] [--status active|revoked|expired]
  streamshare share show ID
  streamshare share update ID [--product …]... [--history …] [--expires-at …] [--description …] [quota flags]
  streamshare share revoke ID [--reason TEXT]
  streamshare share token create ID [--ttl SECONDS]
  streamshare share token list ID
  streamshare share token revoke ID JTI
options: --admin-url URL (or STREAMSHARE_ADMIN_URL, default ${DEFAULT_ADMIN_URL}), --json
the admin token is read from STREAMSHARE_ADMIN_TOKEN`

class UsageError extends Error {}

function client (values: { 'admin-url'?: string | undefined }): AdminClient {
  const url = values['admin-url'] ?? process.env.STREAMSHARE_ADMIN_URL ?? DEFAULT_ADMIN_URL
  const token = process.env.STREAMSHARE_ADMIN_TOKEN
  if (token === undefined || token === '') throw new UsageError('set STREAMSHARE_ADMIN_TOKEN to the admin token')
  return new AdminClient(url, token, process.env.STREAMSHARE_ACTOR ?? os.userInfo().username)
}

function keyValues (list: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (list === undefined) return undefined
  const out: Record<string, string> = {}
  for (const item of list) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw new UsageError(`${flag} expects key=value, got "${item}"`)
    out[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return out
}

function integer (value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} expects a whole number, got "${value}"`)
  return Number(value)
}

function grants (list: string[] | undefined): Array<{ product: string, policy: string, access: string[] }> | undefined {
  if (list === undefined) return undefined
  return list.map(item => {
    const [product, policy, access] = item.split(':')
    if (product === undefined || product === '' || policy === undefined || policy === '') {
      throw new UsageError(`--product expects NAME:POLICY[:read,write], got "${item}"`)
    }
    return { product, policy, access: access === undefined || access === '' ? ['read'] : access.split(',') }
  })
}

function print (json: boolean, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n')
}

async function run (fn: () => Promise<void>, usage: string): Promise<number> {
  try {
    await fn()
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`streamshare: ${err.message}\n\n${usage}\n`)
      return 2
    }
    if (err instanceof AdminApiError) {
      const p = err.problem
      process.stderr.write(`streamshare: ${p.status === 0 ? '' : `${p.status} `}${p.code ?? p.title ?? 'error'}: ${p.detail ?? ''}\n`)
      for (const e of p.errors ?? []) process.stderr.write(`  ${e.path}: ${e.message}\n`)
      return 1
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`streamshare: ${(err as Error).message}\n\n${usage}\n`)
      return 2
    }
    throw err
  }
}

export async function partnerCommand (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  return await run(async () => {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { ...COMMON, id: { type: 'string' }, name: { type: 'string' }, contact: { type: 'string' }, attr: { type: 'string', multiple: true }, origin: { type: 'string', multiple: true } }
    })
    if (values.help === true || sub === undefined) throw new UsageError('partner: choose a sub-command')
    const api = client(values)
    const id = positionals[0]
    switch (sub) {
      case 'create': {
        if (values.id === undefined || values.name === undefined || values.contact === undefined) throw new UsageError('partner create needs --id, --name and --contact')
        const body = { id: values.id, name: values.name, contact: values.contact, attributes: keyValues(values.attr, '--attr') ?? {}, allowed_origins: values.origin ?? [] }
        const partner = await api.call('POST', '/admin/v1/partners', body)
        print(values.json, partner, () => `created partner ${partner.id as string}\n\n${details(partner)}`)
        return
      }
      case 'list': {
        const { partners } = await api.call('GET', '/admin/v1/partners')
        print(values.json, partners, () => table(partners, ['id', 'name', 'contact', 'attributes', 'allowed_origins']))
        return
      }
      case 'show': {
        if (id === undefined) throw new UsageError('partner show needs an ID')
        const partner = await api.call('GET', `/admin/v1/partners/${encodeURIComponent(id)}`)
        print(values.json, partner, () => details(partner))
        return
      }
      case 'update': {
        if (id === undefined) throw new UsageError('partner update needs an ID')
        const body = Object.fromEntries(Object.entries({
          name: values.name, contact: values.contact, attributes: keyValues(values.attr, '--attr'), allowed_origins: values.origin
        }).filter(([, v]) => v !== undefined))
        const partner = await api.call('PATCH', `/admin/v1/partners/${encodeURIComponent(id)}`, body)
        print(values.json, partner, () => details(partner))
        return
      }
      case 'delete': {
        if (id === undefined) throw new UsageError('partner delete needs an ID')
        await api.call('DELETE', `/admin/v1/partners/${encodeURIComponent(id)}`)
        print(values.json, { deleted: id }, () => `deleted partner ${id}`)
        return
      }
      default:
        throw new UsageError(`unknown partner sub-command "${sub}"`)
    }
  }, PARTNER_USAGE)
}

const SHARE_OPTIONS = {
  ...COMMON,
  partner: { type: 'string' },
  product: { type: 'string', multiple: true },
  history: { type: 'string' },
  'expires-at': { type: 'string' },
  description: { type: 'string' },
  'token-ttl': { type: 'string' },
  ttl: { type: 'string' },
  'max-connections': { type: 'string' },
  'messages-per-second': { type: 'string' },
  'bytes-per-second': { type: 'string' },
  'requests-per-minute': { type: 'string' },
  status: { type: 'string' },
  reason: { type: 'string' }
} as const satisfies ParseArgsConfig['options']

function quotaOf (values: Record<string, unknown>): Record<string, number> | undefined {
  const quota = Object.fromEntries(Object.entries({
    max_connections: integer(values['max-connections'] as string | undefined, '--max-connections'),
    messages_per_second: integer(values['messages-per-second'] as string | undefined, '--messages-per-second'),
    bytes_per_second: integer(values['bytes-per-second'] as string | undefined, '--bytes-per-second'),
    requests_per_minute: integer(values['requests-per-minute'] as string | undefined, '--requests-per-minute')
  }).filter(([, v]) => v !== undefined)) as Record<string, number>
  return Object.keys(quota).length === 0 ? undefined : quota
}

function shareSummary (share: Record<string, any>): Record<string, unknown> {
  return {
    id: share.id,
    partner: share.partner,
    status: share.status,
    products: (share.products as Array<{ product: string, policy: string, access: string[] }>).map(g => `${g.product}:${g.policy}:${g.access.join('+')}`),
    expires_at: share.expires_at,
    connections: share.usage?.connections,
    delivered: share.usage?.delivered_messages
  }
}

function tokenText (token: { access_token: string, expires_at: string, jti: string }): string {
  return `token (shown only now; store it safely):\n\n  ${token.access_token}\n\njti ${token.jti}, expires ${token.expires_at}`
}

export async function shareCommand (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  return await run(async () => {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: SHARE_OPTIONS })
    if (values.help === true || sub === undefined) throw new UsageError('share: choose a sub-command')
    const api = client(values)
    const id = positionals[0]
    switch (sub) {
      case 'create': {
        if (values.partner === undefined || values.product === undefined) throw new UsageError('share create needs --partner and at least one --product')
        const body = Object.fromEntries(Object.entries({
          partner: values.partner,
          products: grants(values.product),
          quota: quotaOf(values),
          history: values.history,
          expires_at: values['expires-at'],
          description: values.description,
          token_ttl_seconds: integer(values['token-ttl'], '--token-ttl')
        }).filter(([, v]) => v !== undefined))
        const created = await api.call('POST', '/admin/v1/shares', body)
        print(values.json, created, () => `created share ${created.share.id as string}\n\n${details(shareSummary(created.share))}\n\n${tokenText(created.token)}`)
        return
      }
      case 'list': {
        const query = new URLSearchParams(Object.entries({ partner: values.partner, status: values.status }).filter(([, v]) => v !== undefined) as Array<[string, string]>)
        const { shares } = await api.call('GET', `/admin/v1/shares${query.size > 0 ? `?${query.toString()}` : ''}`)
        print(values.json, shares, () => table(shares.map(shareSummary), ['id', 'partner', 'status', 'products', 'expires_at', 'connections', 'delivered']))
        return
      }
      case 'show': {
        if (id === undefined) throw new UsageError('share show needs an ID')
        const share = await api.call('GET', `/admin/v1/shares/${encodeURIComponent(id)}`)
        print(values.json, share, () => `${details({ ...shareSummary(share), history: share.history, quota: share.quota, description: share.description, revoke_reason: share.revoke_reason ?? undefined, lag: share.usage?.lag })}\n\ntokens:\n${table(share.tokens, ['jti', 'issued_at', 'expires_at', 'revoked_at'])}`)
        return
      }
      case 'update': {
        if (id === undefined) throw new UsageError('share update needs an ID')
        const body = Object.fromEntries(Object.entries({
          products: grants(values.product), quota: quotaOf(values), history: values.history, expires_at: values['expires-at'], description: values.description
        }).filter(([, v]) => v !== undefined))
        const share = await api.call('PATCH', `/admin/v1/shares/${encodeURIComponent(id)}`, body)
        print(values.json, share, () => details(shareSummary(share)))
        return
      }
      case 'revoke': {
        if (id === undefined) throw new UsageError('share revoke needs an ID')
        const share = await api.call('POST', `/admin/v1/shares/${encodeURIComponent(id)}/revoke`, values.reason === undefined ? {} : { reason: values.reason })
        print(values.json, share, () => `revoked share ${id}: every open stream of it has been ended`)
        return
      }
      case 'token': {
        const [action, shareId, jti] = positionals
        if (shareId === undefined) throw new UsageError('share token needs create|list|revoke and a share ID')
        if (action === 'create') {
          const token = await api.call('POST', `/admin/v1/shares/${encodeURIComponent(shareId)}/tokens`, values.ttl === undefined ? {} : { ttl_seconds: integer(values.ttl, '--ttl') })
          print(values.json, token, () => tokenText(token))
        } else if (action === 'list') {
          const { tokens } = await api.call('GET', `/admin/v1/shares/${encodeURIComponent(shareId)}/tokens`)
          print(values.json, tokens, () => table(tokens, ['jti', 'issued_at', 'expires_at', 'revoked_at']))
        } else if (action === 'revoke') {
          if (jti === undefined) throw new UsageError('share token revoke needs a share ID and a JTI')
          const token = await api.call('DELETE', `/admin/v1/shares/${encodeURIComponent(shareId)}/tokens/${encodeURIComponent(jti)}`)
          print(values.json, token, () => `revoked token ${jti}: its open streams have been ended`)
        } else throw new UsageError(`unknown share token action "${format(action)}"`)
        return
      }
      default:
        throw new UsageError(`unknown share sub-command "${sub}"`)
    }
  }, SHARE_USAGE)
}
