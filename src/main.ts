#!/usr/bin/env node
/**
 * `node dist/main.js`: runs the gateway (the container's process, so that signals
 * arrive directly). Same as `streamshare serve`.
 */
import { serve } from './cli/serve.js'

await serve()
