// `npm run demo`: spawn a child whose stdout AND extra fd 3 are winpipe pipes, and show the data
// arriving in the parent, one pipe read with `await reader.read()`, the other as a Node stream.
// Runs the built package (dist/); `npm run demo` builds it first. `npm run demo:wine` runs this
// same script with the Windows node.exe under Wine (the CreatePipe path).
import { spawn } from 'node:child_process';
import { createPipe, platform } from '../dist/esm/index.js';

const child = `
  const { writeSync } = require('node:fs');
  let i = 0;
  const tick = setInterval(() => {
    i++;
    process.stdout.write('stdout line ' + i + ' from pid ' + process.pid + '\\n');
    writeSync(3, JSON.stringify({ progress: i * 25 }) + '\\n');
    if (i === 4) { clearInterval(tick); writeSync(3, JSON.stringify({ done: true }) + '\\n'); }
  }, 150);
`;

const t0 = Date.now();
const stamp = () => `+${String(Date.now() - t0).padStart(4)} ms`;

const out = createPipe(); // the child's stdout
const status = createPipe(); // the child's fd 3: a structured side channel
console.log(`winpipe demo: ${platform} backend on ${process.platform}, node ${process.version}`);
console.log(`  stdout pipe: reader fd ${out.reader.fd}, writer fd ${out.writer.fd} (handle ${out.writer.handle}), inheritable: ${out.writer.inheritable}`);
console.log(`  fd 3 pipe:   reader fd ${status.reader.fd}, writer fd ${status.writer.fd} (handle ${status.writer.handle}), inheritable: ${status.writer.inheritable}`);

const proc = spawn(process.execPath, ['-e', child], { stdio: ['ignore', out.writer, 'inherit', status.writer] });
// Ownership: spawn gave the child its own duplicates; closing ours lets EOF arrive when it exits.
out.writer.close();
status.writer.close();

const readStdout = (async () => {
  let text = '';
  for (let chunk; (chunk = await out.reader.read()).length; ) {
    text += chunk.toString();
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      console.log(`${stamp()}  [stdout via read()]  ${text.slice(0, nl)}`);
      text = text.slice(nl + 1);
    }
  }
  out.reader.close();
  console.log(`${stamp()}  [stdout]  end of file`);
})();

const readStatus = (async () => {
  const stream = status.reader.createReadStream(); // takes ownership of the end
  let text = '';
  for await (const chunk of stream) {
    text += chunk.toString();
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      console.log(`${stamp()}  [fd 3 via stream]    ${text.slice(0, nl)}`);
      text = text.slice(nl + 1);
    }
  }
  console.log(`${stamp()}  [fd 3]    end of file`);
})();

const code = await new Promise((resolve) => proc.on('exit', resolve));
await Promise.all([readStdout, readStatus]);
console.log(`${stamp()}  child exited with code ${code}; both pipes delivered everything and closed.`);
process.exitCode = code;
