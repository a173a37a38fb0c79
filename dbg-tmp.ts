import path from 'node:path';
import { QemuHostAgent } from './src/hypervisors/qemu/qemu-host-agent.ts';
import { createSnap, vmSpec } from './test/qemu/agent-fixtures.ts';
const dir = '/tmp/dbgq'; 
const log = { info: (o: unknown, m?: string) => console.log('I', m, JSON.stringify(o)), warn: (o: unknown, m?: string) => console.log('W', m, JSON.stringify(o)), error: (o: unknown, m?: string) => console.log('E', m, JSON.stringify(o)), debug: (o: unknown, m?: string) => console.log('D', m, JSON.stringify(o)) };
const agent = new QemuHostAgent({ stateDir: path.join(dir, 's'), poolDir: path.join(dir, 'p'), guestBoot: { kernel: '.guest-cache/vmlinuz', initrd: '.guest-cache/initrd.gz' }, log });
await agent.init();
const vm = vmSpec('g', 2, 192);
await agent.execute({ kind: 'CreateVM', vm }); await agent.execute({ kind: 'StartVM', vm });
for (;;) { const p = await agent.execute({ kind: 'GuestPing', vmName: 'g' }); if (p.result && p.available) break; }
for (let i = 0; i < 5; i++) { const a = await agent.execute(createSnap(vm, 'q' + i, 'Disk', { quiesce: true })); if (!a.result) console.log(a); }
await agent.stopAll();
