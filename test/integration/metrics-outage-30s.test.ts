// Counters that come back with the logs (issue 13): a 30 s collector outage.
import { describeKernel } from '../support/kernel.ts';
import { itDeliversCountersAfterAnOutage } from '../support/metrics-outage.ts';

describeKernel('counters after a 30 s collector outage', () => itDeliversCountersAfterAnOutage(30_000, 'a 30 s outage'));
