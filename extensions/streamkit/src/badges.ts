/**
 * A badge above every `%%stream` cell: the step's name, its input, and its
 * live state (msg/s, lag, errors) when a chain runs it.
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

import { badgeFor, liveSteps, parseStreamCell } from './format';
import { StreamsModel } from './model';

const BADGE_CLASS = 'kit-CellBadge';

export class CellBadges implements IDisposable {
  constructor(panel: NotebookPanel, model: StreamsModel) {
    this._panel = panel;
    this._model = model;
    this._key = `badges:${panel.id}`;
    panel.content.modelContentChanged.connect(this._schedule, this);
    model.changed.connect(this._update, this);
    void panel.context.ready.then(() => this._schedule());
    panel.disposed.connect(() => this.dispose());
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Whether this notebook is the one the user looks at. */
  setCurrent(current: boolean): void {
    this._current = current;
    this._demand();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    this._model.setDemand(this._key, false);
    this._model.changed.disconnect(this._update, this);
    if (!this._panel.isDisposed) {
      this._panel.content.modelContentChanged.disconnect(this._schedule, this);
      for (const node of this._panel.node.querySelectorAll(`.${BADGE_CLASS}`)) {
        node.remove();
      }
    }
  }

  private _schedule(): void {
    // Typing fires a change per key: update once things settle.
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => this._update(), 150);
  }

  private _demand(): void {
    this._model.setDemand(this._key, this._current && this._streamCells > 0);
  }

  private _update(): void {
    if (this._disposed || this._panel.isDisposed) {
      return;
    }
    const live = liveSteps(this._model.snapshot?.services ?? []);
    let count = 0;
    for (const cell of this._panel.content.widgets as readonly Cell[]) {
      const existing = cell.node.querySelector(
        `:scope > .${BADGE_CLASS}`
      ) as HTMLElement | null;
      const parsed =
        cell.model.type === 'code'
          ? parseStreamCell(cell.model.sharedModel.getSource())
          : null;
      if (parsed === null) {
        existing?.remove();
        continue;
      }
      count += 1;
      const badge = badgeFor(parsed, live);
      const node = existing ?? document.createElement('div');
      if (!existing) {
        node.className = BADGE_CLASS;
        cell.node.insertBefore(node, cell.node.firstChild);
      }
      node.dataset.step = parsed.name;
      node.dataset.state = badge.state;
      node.title = badge.title;
      if (node.textContent !== badge.text) {
        node.textContent = badge.text;
      }
    }
    if (count !== this._streamCells) {
      this._streamCells = count;
      this._demand();
    }
  }

  private _current = false;
  private _disposed = false;
  private _key: string;
  private _model: StreamsModel;
  private _panel: NotebookPanel;
  private _streamCells = 0;
  private _timer = 0;
}
