/**
 * Small helpers shared by the benchmarks: statistics, timeouts, process CPU.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

export { sleep }

export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Rejects with "<what> timed out" after `ms`; `what` may be a function (evaluated then, e.g. to report progress). */
export async function withTimeout (promise, what, ms) {
  let timer
  try {
    return await Promise.race([promise, new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${typeof what === 'function' ? what() : what} timed out after ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The order of the contenders in round `i`: rotated every round and reversed every
 * other round, so no contender always runs first or right after the same other one.
 */
export function roundOrder (contenders, i) {
  const n = contenders.length
  const rotated = contenders.map((_, k) => contenders[(k + i) % n])
  return Math.floor(i / n) % 2 === 1 ? rotated.reverse() : rotated
}

let clockTicks
/** { user, system } CPU of a process in µs, from /proc/<pid>/stat (Linux; clock-tick resolution, usually 10 ms). */
export function procCpuSplitUs (pid) {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after "(comm)": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / clockTicks * 1e6, system: Number(fields[12]) / clockTicks * 1e6 }
}

/** utime+stime of a process in µs. */
export function procCpuUs (pid) {
  const { user, system } = procCpuSplitUs(pid)
  return user + system
}

/** A process's CPU rate while idle, as a share of one core, measured over `ms`. */
export async function idleCpuCores (pid, ms) {
  const c0 = procCpuUs(pid)
  const t0 = performance.now()
  await sleep(ms)
  return (procCpuUs(pid) - c0) / 1000 / (performance.now() - t0)
}

/** Cumulative CPU time of the whole machine (all cores) from /proc/stat, in clock ticks. */
export function machineCpu () {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) }
}

/** Share of all cores busy between two machineCpu() readings (NaN if no time passed). */
export function machineBusyBetween (a, b) {
  return b.total === a.total ? NaN : 1 - (b.idle - a.idle) / (b.total - a.total)
}

/** Resident set size of a process in MiB, from /proc/<pid>/status. */
export function procRssMb (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}
