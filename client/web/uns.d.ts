// Types of uns.js, the browser SDK of UNS (Graph-compatible notifications).

export declare const VERSION: string;

/** Graph's error envelope of a non-2xx answer. */
export declare class UnsError extends Error {
  readonly name: 'UnsError';
  /** HTTP status */
  readonly status: number;
  /** Graph error code: "BadRequest", "NotFound", "PreconditionFailed", "TooManyRequests", … */
  readonly code: string;
  /** innerError["request-id"], or the request-id header */
  readonly requestId: string | null;
  /** Retry-After in seconds, or null */
  readonly retryAfter: number | null;
}

export type ReadState = 'unread' | 'read';
export type UserActionState = 'noInteraction' | 'activated' | 'dismissed';

export interface Notification {
  id: string;
  version: number;
  appNotificationId?: string;
  groupName?: string;
  targetHostName?: string;
  createdDateTime?: string;
  lastModifiedDateTime?: string;
  expirationDateTime?: string;
  priority?: 'low' | 'normal' | 'high';
  readState?: ReadState;
  userActionState?: UserActionState;
  payload?: { rawContent?: string; visualContent?: { title?: string; body?: string } };
  [field: string]: unknown;
}

/** A change of the feed: a notification as it is now, or its removal. */
export type FeedItem = Notification | { id: string; '@removed': { reason: string } };

export interface Subscription {
  id: string;
  platform: string;
  deviceId: string;
  targetHostName: string;
  expirationDateTime: string;
  [field: string]: unknown;
}

/** Where the SDK keeps the cursor, UNSID and device id (default: localStorage). */
export interface UnsStorage {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export interface UnsClientOptions {
  /** The gateway, e.g. "https://uns.example.com" */
  baseUrl: string;
  /** A user token, or a function giving the current one (called per request). */
  token: string | (() => string | Promise<string>);
  /** "v1.0" (default) or "beta" */
  apiVersion?: string;
  storage?: UnsStorage;
  /** Prefix of the stored keys (default "uns"); one per user and gateway. */
  storageKey?: string;
  fetch?: typeof fetch;
  /** Retries of a 429 or 503 answer (default 4). */
  retries?: number;
  /** Longest backoff between failed attempts (default 30000). */
  maxBackoffMs?: number;
}

export interface SubscribeOptions {
  deviceId?: string;
  platform?: 'polling' | 'webPush';
  hostName?: string;
  appDisplayName?: string;
  /** For webPush: where PushManager.subscribe runs … */
  registration?: ServiceWorkerRegistration;
  /** … with the server's VAPID public key (`unsctl vapid`). */
  vapidKey?: BufferSource | string;
  /** Or a PushSubscription (or its toJSON()) made elsewhere. */
  pushSubscription?: PushSubscription | { endpoint: string; keys: { p256dh: string; auth: string } };
}

export interface HistoryPage {
  items: Notification[];
  next: (() => Promise<HistoryPage>) | null;
}

export interface ListenOptions {
  onChange?: (item: FeedItem) => void;
  onError?: (error: unknown) => void;
  onState?: (state: 'live' | 'offline') => void;
  /** Long-poll wait in seconds (default 30, at most 60). */
  wait?: number;
  /** 'auto' (default) uses the event stream where the gateway has one. */
  stream?: 'auto' | 'off' | false;
  /** Notifications shown by this worker are closed when read or dismissed elsewhere. */
  registration?: ServiceWorkerRegistration;
}

export interface Listener {
  stop(): Promise<void>;
  done: Promise<void>;
}

export declare function backoffMs(attempt: number, maxMs?: number): number;

export declare class UnsClient {
  constructor(options: UnsClientOptions);
  readonly unsid: string | null;
  cursor: string | null;
  request(method: string, path: string, options?: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; retry?: boolean }): Promise<{ status: number; headers: Headers; data: any }>;
  subscribe(options?: SubscribeOptions): Promise<Subscription>;
  unsubscribe(options?: { registration?: ServiceWorkerRegistration }): Promise<void>;
  get(id: string): Promise<Notification>;
  history(options?: { top?: number; filter?: string; link?: string }): Promise<HistoryPage>;
  markRead(id: string): Promise<Notification>;
  dismiss(id: string): Promise<Notification>;
  activate(id: string): Promise<Notification>;
  update(id: string, change: { readState?: ReadState; userActionState?: UserActionState }): Promise<Notification>;
  remove(id: string): Promise<void>;
  listen(options?: ListenOptions): Listener;
  shareWithWorker(registration: ServiceWorkerRegistration): Promise<void>;
}
