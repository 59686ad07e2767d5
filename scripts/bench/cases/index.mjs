// Every benchmark case, in report order. To add one: copy the smallest file here (b5-pair.mjs),
// give it a new `id`, and list it below. A case module exports:
//   id                      'B7'; `npm run bench -- --case B7` runs only it
//   sizes(mode, {isWindows, quick})   its parameters for 'smoke' | 'quick' | 'full'
//   sizesText(sizes)        one phrase for the report's "Sizes" line
//   runners                 { [peer]: async (params) => ({ ok, seconds, count | bytes, ... }) },
//                           each run in a fresh process by scripts/bench.mjs
//   define(sizes, ctx)      the table entries: title, param, unit, better, value(result), rows
//                           (ctx.node(peer, params), ctx.pyRow(args), ctx.cRow(args), ctx.env)
import * as b1 from './b1-stream.mjs';
import * as b2 from './b2-sync.mjs';
import * as b3 from './b3-roundtrip.mjs';
import * as b4 from './b4-fanin.mjs';
import * as b5 from './b5-pair.mjs';
import * as b6 from './b6-accept.mjs';
import * as b7 from './b7-feed.mjs';

export const caseModules = [b1, b2, b3, b4, b5, b6, b7];
