// Preloaded (`node --import`) into every server process the harness starts: the process exits when the
// harness goes away, even by SIGKILL, when no signal handler of ours can run. The harness holds the write
// end of the child's stdin pipe; the kernel closes it when the harness dies, and stdin ends here.
// The stdin handle is unref'd, so it never keeps a server alive that wants to exit by itself.
import type { Socket } from 'node:net';

const stdin = process.stdin as NodeJS.ReadStream & Partial<Pick<Socket, 'unref'>>;
stdin.on('end', () => process.exit(0));
stdin.on('error', () => process.exit(0));
stdin.resume();
stdin.unref?.();
