// Hand a pipe to a child that is not a Node program, by number on its command line.
// POSIX: `sh` writes to the fd number it is given (the child's number, not ours).
// Windows: any program that takes a HANDLE value, e.g. test/fixtures/writefile.c built with mingw:
//   x86_64-w64-mingw32-gcc -o writefile.exe test/fixtures/writefile.c
// readme-test: {"path": "test/fixtures/bin", "needs": {"win32": "writefile"}}
//
//   npm run build && node examples/spawn-handles.mjs [path\to\writefile.exe]
import { createPipe, spawnWithHandles } from 'winpipe';

const { reader, writer } = createPipe();
const child =
  process.platform === 'win32'
    ? spawnWithHandles(process.argv[2] ?? 'writefile.exe', ([handle]) => [handle, 'hello from a Win32 child'], { handles: [writer], stdio: 'inherit' })
    : spawnWithHandles('sh', ([fd]) => ['-c', `echo "hello from sh, writing to its fd ${fd}" >&${fd}`], { handles: [writer], stdio: 'inherit' });
// Listen before reading: under Wine the child is usually reported gone before the reader's end of file.
child.on('exit', (code) => console.log(`\nchild exited with ${code}`));
writer.close(); // the child has its own copy; ours must go for end of file
let chunk;
while ((chunk = await reader.read()).length > 0) process.stdout.write(chunk);
reader.close();
