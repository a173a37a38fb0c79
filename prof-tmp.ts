import { openTestApp } from './test/helpers/test-app.ts';
import { createVms } from './test/helpers/vm-factory.ts';
import { dispatch } from './src/api/server.ts';
import { signRequest, parseQueryString } from './src/api/protocol/index.ts';
const t = await openTestApp();
await createVms(t.app, t.demo.accountId, Array.from({ length: 2000 }, (_, i) => ({ displayName: `p-${i}`, running: true })));
const vms = (await t.app.deps.inventory.listVms()).filter((v) => v.displayName.startsWith('p-'));
await t.app.deps.jobs.stop(); // measure the create call alone first
const params = (vmId: string) => parseQueryString(signRequest({ command: 'createVMSnapshot', response: 'json', virtualmachineid: vmId }, t.seeded.demo.apiKey, t.seeded.demo.secretKey));
let t0 = performance.now();
const jobs: string[] = [];
for (const vm of vms.slice(0, 1000)) { const r = await dispatch(t.app, params(vm.id)); jobs.push(JSON.parse(r.body).createvmsnapshotresponse.jobid); }
let t1 = performance.now();
console.log(`create call (dispatch, no HTTP, no jobs running): ${((t1 - t0) / 1000).toFixed(3)} ms`);
t0 = performance.now();
await t.app.deps.jobs.start();
for (const j of jobs) await t.app.deps.jobs.waitFor(j);
t1 = performance.now();
console.log(`1000 create jobs: ${((t1 - t0) / 1000).toFixed(3)} ms each`);
const poll = (j: string) => parseQueryString(signRequest({ command: 'queryAsyncJobResult', response: 'json', jobid: j }, t.seeded.demo.apiKey, t.seeded.demo.secretKey));
t0 = performance.now();
for (const j of jobs) await dispatch(t.app, poll(j));
t1 = performance.now();
console.log(`poll (finished job, dispatch): ${((t1 - t0) / 1000).toFixed(3)} ms`);
await t.close();
