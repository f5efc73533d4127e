// Counters that come back with the logs (issue 13): a 10-minute collector outage. Wall time, not CPU: in a
// file of its own so that vitest runs it beside the rest.
import { describeKernel } from '../support/kernel.ts';
import { itDeliversCountersAfterAnOutage } from '../support/metrics-outage.ts';

describeKernel('counters after a 10-minute collector outage', () => itDeliversCountersAfterAnOutage(600_000, 'a 10-minute outage'));
