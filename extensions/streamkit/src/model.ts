/**
 * One poller for every kit view (the side panel and the cell badges): it
 * fetches connection, topics and services together, at a modest rate, and
 * only while some view that shows them is visible.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI } from './api';
import {
  IConnectionInfo,
  IEndedService,
  IServiceInfo,
  ISnapshot,
  ITopicInfo
} from './format';

/** How often the views refresh while visible (ms). */
export const REFRESH_MS = 2000;

export class StreamsModel {
  constructor(options: { interval?: number } = {}) {
    this._poll = new Poll({
      auto: false,
      factory: () => this._fetch(),
      frequency: {
        interval: options.interval ?? REFRESH_MS,
        backoff: true,
        max: 30 * 1000
      },
      name: 'jupyter-streamkit:streams',
      // Nobody looking (no visible view, or the browser tab hidden): rest.
      standby: () => this._demand.size === 0 || 'when-hidden'
    });
  }

  /** The latest snapshot (null before the first fetch). */
  get snapshot(): ISnapshot | null {
    return this._snapshot;
  }

  /** Emitted after every fetch. */
  get changed(): ISignal<this, ISnapshot> {
    return this._changed;
  }

  /**
   * Say whether the view `key` is visible; the model polls while any is.
   * A view becoming visible gets fresh data at once.
   */
  setDemand(key: string, visible: boolean): void {
    const had = this._demand.size > 0;
    if (visible) {
      this._demand.add(key);
    } else {
      this._demand.delete(key);
    }
    if (visible && (!had || this._snapshot === null)) {
      void this.refresh();
    }
  }

  /** Fetch now (e.g. after a Stop), and start the poll if it was not. */
  async refresh(): Promise<void> {
    if (this._demand.size === 0) {
      // Asked for explicitly with no view polling: fetch once, the poll rests.
      await this._fetch().catch(() => undefined);
      return;
    }
    if (!this._started) {
      this._started = true;
      void this._poll.start();
    }
    await this._poll.refresh();
    await this._poll.tick;
  }

  /** Stop a running service by name, then refresh. */
  async stopService(name: string): Promise<void> {
    await requestAPI(`services/${encodeURIComponent(name)}/stop`, {
      method: 'POST'
    });
    await this.refresh();
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _fetch(): Promise<void> {
    let connection: IConnectionInfo;
    let topics: ITopicInfo[] = this._snapshot?.topics ?? [];
    let services: IServiceInfo[] = this._snapshot?.services ?? [];
    let ended: IEndedService[] = this._snapshot?.ended ?? [];
    let error: string | null = null;
    try {
      const [conn, svc] = await Promise.all([
        requestAPI<IConnectionInfo>('connection'),
        requestAPI<{ services: IServiceInfo[]; ended?: IEndedService[] }>(
          'services'
        )
      ]);
      connection = conn;
      services = svc.services;
      ended = svc.ended ?? [];
      if (conn.connected) {
        topics = (await requestAPI<{ topics: ITopicInfo[] }>('topics')).topics;
      } else {
        topics = [];
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      connection = this._snapshot?.connection ?? {
        connected: false,
        error
      };
    }
    this._snapshot = {
      connection,
      topics,
      services,
      ended,
      error,
      at: Date.now()
    };
    this._changed.emit(this._snapshot);
    if (error !== null) {
      // Let the poll back off while the server or broker is away.
      throw new Error(error);
    }
  }

  private _changed = new Signal<this, ISnapshot>(this);
  private _demand = new Set<string>();
  private _poll: Poll;
  private _snapshot: ISnapshot | null = null;
  private _started = false;
}
