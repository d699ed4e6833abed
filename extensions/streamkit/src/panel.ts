/**
 * The Streams side panel: the connection, topics with live msg/s, and the
 * chains and services the kit runs, each with a Stop button.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  ago,
  formatCount,
  formatRate,
  IEndedService,
  IServiceInfo,
  ISnapshot,
  lastLines,
  schemaDrift,
  uptime,
  visibleTopics
} from './format';
import { StreamsModel } from './model';

const STREAMS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
<path class="jp-icon3" fill="#616161" d="M2 7c2.5-2.7 5-2.7 7.5 0s5 2.7 7.5 0 3.8-2 5-1.4v2.3c-1.2-.6-2.6-.1-3.6 1C16 11.6 13.4 11.6 11 9c-2.4-2.7-4.6-2.7-7 0L2 9.6zm0 5c2.5-2.7 5-2.7 7.5 0s5 2.7 7.5 0 3.8-2 5-1.4v2.3c-1.2-.6-2.6-.1-3.6 1-2.4 2.7-5 2.7-7.4.1-2.4-2.7-4.6-2.7-7 0L2 14.6zm0 5c2.5-2.7 5-2.7 7.5 0s5 2.7 7.5 0 3.8-2 5-1.4v2.3c-1.2-.6-2.6-.1-3.6 1-2.4 2.7-5 2.7-7.4.1-2.4-2.7-4.6-2.7-7 0L2 19.6z"/>
</svg>`;

export const streamsIcon = new LabIcon({
  name: 'jupyter-streamkit:streams',
  svgstr: STREAMS_SVG
});

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** A table with a header row: the first column a name, the others numbers. */
function tableWithHeader(columns: [string, string][]): HTMLTableElement {
  const cells = columns.map(([label, title], i) =>
    el('th', i === 0 ? {} : { class: 'kit-num', title }, label)
  );
  return el('table', { class: 'kit-StreamsPanel-table' }, el('thead', {}, el('tr', {}, ...cells)));
}

export class StreamsPanel extends Widget {
  constructor(model: StreamsModel) {
    super();
    this._model = model;
    this.id = 'kit-streams-panel';
    this.addClass('kit-StreamsPanel');
    this.title.icon = streamsIcon;
    this.title.caption = 'Streams (jupyter-streamkit)';

    const header = el(
      'div',
      { class: 'kit-StreamsPanel-header' },
      el('h2', {}, 'Streams')
    );
    const refresh = el(
      'button',
      {
        class: 'jp-Button jp-mod-minimal kit-StreamsPanel-refresh',
        title: 'Refresh now'
      },
      '⟳'
    );
    refresh.addEventListener('click', () => void this._model.refresh());
    header.append(refresh);

    this._filter = el('input', {
      class: 'jp-mod-styled kit-StreamsPanel-filter',
      type: 'search',
      placeholder: 'Filter topics'
    });
    this._filter.addEventListener('input', () => this._render());
    this._internal = el('input', { type: 'checkbox' });
    this._internal.addEventListener('change', () => this._render());
    const tools = el(
      'div',
      { class: 'kit-StreamsPanel-tools' },
      this._filter,
      el('label', { title: 'Show broker and Quix internal topics' }, this._internal, ' internal')
    );

    this._body = el('div', { class: 'kit-StreamsPanel-body' });
    this._footer = el('div', { class: 'kit-StreamsPanel-footer' });
    this.node.append(header, tools, this._body, this._footer);
    model.changed.connect(this._render, this);
    this._render();
  }

  protected onAfterShow(msg: Message): void {
    this._model.setDemand(this.id, true);
  }

  protected onAfterHide(msg: Message): void {
    this._model.setDemand(this.id, false);
  }

  protected onAfterAttach(msg: Message): void {
    this._model.setDemand(this.id, this.isVisible);
  }

  protected onBeforeDetach(msg: Message): void {
    this._model.setDemand(this.id, false);
  }

  dispose(): void {
    this._model.setDemand(this.id, false);
    this._model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const snap = this._model.snapshot;
    this._body.replaceChildren();
    if (snap === null) {
      this._body.append(el('p', { class: 'kit-StreamsPanel-note' }, 'Loading…'));
      this._footer.textContent = '';
      return;
    }
    this._body.append(
      this._connection(snap),
      this._topics(snap),
      this._services(snap.services, snap.ended ?? [])
    );
    this._footer.textContent = snap.error
      ? `Update failed: ${snap.error}`
      : `Updated ${ago(snap.at, Date.now())}; refreshes every 2 s while shown.`;
    this._footer.classList.toggle('kit-mod-error', !!snap.error);
  }

  private _connection(snap: ISnapshot): HTMLElement {
    const c = snap.connection;
    const section = el(
      'section',
      { class: 'kit-StreamsPanel-connection' },
      el('h3', {}, 'Connection')
    );
    if (!c.connected) {
      section.append(
        el(
          'p',
          { class: 'kit-StreamsPanel-note kit-mod-error' },
          c.error ?? 'Not connected.'
        )
      );
      return section;
    }
    const dot = el('span', { class: 'kit-dot kit-mod-live' });
    section.append(
      el(
        'div',
        { class: 'kit-StreamsPanel-address' },
        dot,
        el('code', {}, c.address ?? '?')
      ),
      el(
        'div',
        { class: 'kit-StreamsPanel-meta' },
        `${c.profile ?? '?'} profile${c.embedded ? ' (embedded, in memory)' : ''} · ${c.guarantee ?? '?'}`
      )
    );
    return section;
  }

  private _topics(snap: ISnapshot): HTMLElement {
    const rows = visibleTopics(
      snap.topics,
      this._filter.value,
      this._internal.checked
    );
    const section = el(
      'section',
      { class: 'kit-StreamsPanel-topics' },
      el('h3', {}, `Topics (${rows.length})`)
    );
    if (!snap.connection.connected) {
      return section;
    }
    if (rows.length === 0) {
      section.append(el('p', { class: 'kit-StreamsPanel-note' }, 'No topics yet.'));
      return section;
    }
    const table = tableWithHeader([
      ['topic', ''],
      ['part.', 'partitions'],
      ['msgs', 'messages in the topic'],
      ['msg/s', 'messages per second']
    ]);
    const body = el('tbody');
    for (const t of rows) {
      const live = t.rate !== null && t.rate > 0;
      body.append(
        el(
          'tr',
          {
            class: `kit-topic-row${live ? ' kit-mod-live' : ''}`,
            'data-topic': t.name
          },
          el('td', { class: 'kit-topic-name', title: t.name }, t.name),
          el('td', { class: 'kit-num' }, String(t.partitions)),
          el(
            'td',
            {
              class: 'kit-num kit-topic-messages',
              'data-value': String(t.messages),
              title: t.messages.toLocaleString()
            },
            formatCount(t.messages)
          ),
          el('td', { class: 'kit-num kit-topic-rate' }, formatRate(t.rate))
        )
      );
    }
    table.append(body);
    section.append(table);
    return section;
  }

  private _services(
    services: IServiceInfo[],
    ended: IEndedService[]
  ): HTMLElement {
    const section = el(
      'section',
      { class: 'kit-StreamsPanel-services' },
      el('h3', {}, `Chains and services (${services.length})`)
    );
    if (services.length === 0) {
      section.append(
        el(
          'p',
          { class: 'kit-StreamsPanel-note' },
          'None running. `%stream run` runs a notebook\u2019s chain live; `kit run FOLDER` an exported service.'
        )
      );
      section.append(...ended.map(gone => this._ended(gone)));
      return section;
    }
    for (const service of services) {
      const stop = el(
        'button',
        {
          class: 'jp-Button jp-mod-styled jp-mod-warn kit-service-stop',
          title: `Stop ${service.name} (pid ${service.pid})`
        },
        'Stop'
      );
      stop.addEventListener('click', async () => {
        stop.setAttribute('disabled', '');
        stop.textContent = 'Stopping…';
        try {
          await this._model.stopService(service.name);
        } catch (error) {
          stop.removeAttribute('disabled');
          stop.textContent = 'Stop';
          void showErrorMessage(`Could not stop ${service.name}`, String(error));
        }
      });
      const card = el(
        'div',
        { class: 'kit-service', 'data-service': service.name },
        el(
          'div',
          { class: 'kit-service-header' },
          el('strong', { title: service.name }, service.name),
          stop
        ),
        el(
          'div',
          { class: 'kit-service-meta', title: service.folder },
          `pid ${service.pid} · up ${uptime(service.started_at, Date.now())}`
        )
      );
      if (service.steps.length === 0) {
        card.append(el('p', { class: 'kit-StreamsPanel-note' }, 'Starting…'));
      } else {
        const table = tableWithHeader([
          ['step', ''],
          ['msg/s', 'records in per second'],
          ['lag', 'records behind the input'],
          ['err/dlq/late', 'errors / records sent to the DLQ / records a window dropped as late']
        ]);
        const body = el('tbody');
        for (const step of service.steps) {
          const bad = step.errors > 0 || step.state === 'failed' || step.state === 'waiting for the broker';
          body.append(
            el(
              'tr',
              {
                class: `kit-step-row${bad ? ' kit-mod-error' : ''}`,
                'data-step': step.name,
                title: `${step.kind} step ${step.input} → ${step.output}, ${step.guarantee}, ${step.state}${step.last_error ? `\nLast error: ${step.last_error}` : ''}${step.new_fields?.length ? `\nFields added since export: ${step.new_fields.join(', ')}` : ''}${step.conflicts ? `\nType conflicts: ${step.conflicts}` : ''}`
              },
              el(
                'td',
                {},
                el(
                  'div',
                  { class: 'kit-step-name' },
                  el('span', { class: `kit-dot kit-mod-${bad ? 'error' : step.state === 'running' ? 'live' : 'idle'}` }),
                  el('span', {}, step.name)
                )
              ),
              el('td', { class: 'kit-num' }, formatRate(step.rate)),
              el('td', { class: 'kit-num' }, formatCount(step.lag)),
              el(
                'td',
                { class: 'kit-num' },
                `${formatCount(step.errors)}/${formatCount(step.dlq)}/${formatCount(step.late ?? 0)}`
              )
            )
          );
        }
        table.append(body);
        const guarantees = [...new Set(service.steps.map(s => s.guarantee))];
        card.append(
          table,
          el('div', { class: 'kit-service-meta' }, guarantees.join(', '))
        );
      }
      for (const step of service.steps) {
        const drift = schemaDrift(step);
        if (drift) {
          card.append(
            el(
              'div',
              {
                class: 'kit-service-meta kit-service-drift',
                title: (step.new_fields ?? []).join(', ')
              },
              `${step.name}: schema ${drift}`
            )
          );
        }
      }
      for (const notice of service.notices ?? []) {
        card.append(el('div', { class: 'kit-service-meta kit-service-notice' }, notice));
      }
      section.append(card);
    }
    section.append(...ended.map(gone => this._ended(gone)));
    return section;
  }

  /** A service that ended on its own: how, when, its log's end, and a
   * button that clears it from the list. */
  private _ended(gone: IEndedService): HTMLElement {
    const clear = el(
      'button',
      {
        class: 'jp-Button jp-mod-styled kit-service-stop kit-service-clear',
        title: `Forget that ${gone.name} ended (its log stays: ${gone.log})`
      },
      'Clear'
    );
    clear.addEventListener('click', async () => {
      clear.setAttribute('disabled', '');
      try {
        await this._model.stopService(gone.name);
      } catch (error) {
        clear.removeAttribute('disabled');
        void showErrorMessage(`Could not clear ${gone.name}`, String(error));
      }
    });
    const lines = lastLines(gone.log_tail);
    const card = el(
      'div',
      { class: 'kit-service kit-mod-ended', 'data-service': gone.name },
      el(
        'div',
        { class: 'kit-service-header' },
        el('span', { class: 'kit-dot kit-mod-error' }),
        el('strong', { title: gone.name }, gone.name),
        clear
      ),
      el(
        'div',
        { class: 'kit-service-meta kit-mod-error' },
        `\u2716 ${gone.how} ${ago(gone.ended_at * 1000, Date.now())}`
      ),
      el('div', { class: 'kit-service-meta', title: gone.log }, `log: ${gone.log}`)
    );
    if (lines.length > 0) {
      card.append(
        el('pre', { class: 'kit-service-log', title: gone.log }, lines.join('\n'))
      );
    }
    return card;
  }

  private _body: HTMLElement;
  private _filter: HTMLInputElement;
  private _footer: HTMLElement;
  private _internal: HTMLInputElement;
  private _model: StreamsModel;
}
