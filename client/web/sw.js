// The inbox's service worker: the SDK's worker module as it is.
import { installUnsWorker } from './uns-sw.js';

installUnsWorker(self, { appUrl: './' });
