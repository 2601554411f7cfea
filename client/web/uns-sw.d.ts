// Types of uns-sw.js, the service worker module of the UNS browser SDK.

/** The Web Push payload of UNS ({unsid, cursor, id, title, body}) or a state tap. */
export interface UnsPush {
  unsid?: string;
  cursor?: string;
  id?: string;
  title?: string;
  body?: string;
  readState?: string;
  userActionState?: string;
  '@removed'?: unknown;
}

export declare function installUnsWorker(self: ServiceWorkerGlobalScope, options?: { appUrl?: string }): void;
export declare function handlePush(self: ServiceWorkerGlobalScope, msg: UnsPush): Promise<void>;
export declare function handleClick(self: ServiceWorkerGlobalScope, notification: Notification, appUrl: string): Promise<void>;
