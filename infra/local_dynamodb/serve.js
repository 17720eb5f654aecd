#!/usr/bin/env node
// The local DynamoDB engine: dynalite's own server, with one change of behaviour.
//
// Why not dynalite's cli.js: dynalite rethrows the error of a request whose
// client went away mid-body (`req.on('error', err => { throw err })`), which
// kills the whole engine when any API process is killed during a request.
// A local stand-in for DynamoDB must survive its clients dying, so an aborted
// request is logged and dropped here; any other uncaught error still stops the
// engine (loudly), as before.
'use strict'

const argv = require('minimist')(process.argv.slice(2))
const dynalite = require('dynalite')

const CLIENT_GONE = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE'])

process.on('uncaughtException', (err) => {
  if (err && (CLIENT_GONE.has(err.code) || err.message === 'aborted')) {
    console.error(`dynalite: a client went away mid-request (${err.code || err.message}); continuing`)
    return
  }
  console.error('dynalite: fatal error', err)
  process.exit(1)
})
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))

const server = dynalite(argv).listen(argv.port || 4567, argv.host || undefined, () => {
  const address = server.address()
  console.log(`Dynalite listening at: http://${argv.host || 'localhost'}:${address.port}`)
})
