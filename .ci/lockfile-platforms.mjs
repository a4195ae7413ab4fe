#!/usr/bin/env node
// Adds lockfile entries for optional platform packages that the package registry reachable here
// does not serve (e.g. @biomejs/cli-darwin-arm64): `npm install` silently leaves them out of
// package-lock.json, and `npm ci` then refuses the lockfile as out of sync. An entry that names the
// package's os / cpu / libc lets `npm ci` skip it on this platform without fetching it.
// Run after any `npm install` that changes package-lock.json:  node .ci/lockfile-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const OSES = ['android', 'darwin', 'linux', 'win32', 'freebsd', 'openbsd', 'sunos', 'aix']
const CPUS = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 'ppc64le', 's390x', 'riscv64', 'loong64', 'wasm32']

function platformOf(name) {
  const parts = name.split('/').pop().split('-')
  const i = parts.findIndex((p) => OSES.includes(p))
  if (i < 0 || !CPUS.includes(parts[i + 1])) return undefined
  const suffix = parts[i + 2]
  const platform = { os: [parts[i]], cpu: [parts[i + 1]] }
  if (parts[i] === 'linux' && suffix === 'musl') platform.libc = ['musl']
  else if (parts[i] === 'linux' && suffix?.startsWith('gnu')) platform.libc = ['glibc']
  return platform
}

const path = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(path, 'utf8'))
let added = 0
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location === '' ? 'node_modules' : `${location}/node_modules`
    const candidates = [`${base}/${dep}`, `node_modules/${dep}`]
    if (candidates.some((c) => lock.packages[c] !== undefined)) continue
    const platform = platformOf(dep)
    if (platform === undefined) continue
    lock.packages[`node_modules/${dep}`] = { version, optional: true, ...platform }
    added++
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
)
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`added ${added} platform entries to package-lock.json`)
