/**
 * jupyter-streamkit's JupyterLab extension: a Streams side panel, an Export
 * command (palette and notebook toolbar) and `%%stream` cell badges, all fed
 * by one poller of the kit's server extension (`/kit/api`).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';

import { CellBadges } from './badges';
import { exportNotebook } from './export';
import { StreamsModel } from './model';
import { streamsIcon, StreamsPanel } from './panel';

export { StreamsModel } from './model';
export * from './format';

/** The shared poller, for other extensions that want the same data. */
export const IStreamsModel = new Token<StreamsModel>(
  'jupyter-streamkit:IStreamsModel',
  'Connection, topics and running services of jupyter-streamkit.'
);

export namespace CommandIDs {
  export const exportChain = 'kit:export-chain';
  export const showPanel = 'kit:show-streams';
}

/** State key: the Streams panel was opened by itself once already. */
const FIRST_OPEN = 'jupyter-streamkit:panel-opened';

const modelPlugin: JupyterFrontEndPlugin<StreamsModel> = {
  id: 'jupyter-streamkit:model',
  description: 'Polls the kit server extension while a kit view is visible.',
  autoStart: true,
  provides: IStreamsModel,
  activate: () => new StreamsModel()
};

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-streamkit:panel',
  description: 'The Streams side panel.',
  autoStart: true,
  requires: [IStreamsModel],
  optional: [ILayoutRestorer, ICommandPalette, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    model: StreamsModel,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ) => {
    const panel = new StreamsPanel(model);
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, panel.id);
    // The first time JupyterLab runs with the kit (in this workspace), the
    // panel opens by itself; after that the restored layout decides.
    if (state) {
      void Promise.all([app.restored, state.fetch(FIRST_OPEN)]).then(
        ([, seen]) => {
          if (!seen) {
            app.shell.activateById(panel.id);
            void state.save(FIRST_OPEN, true);
          }
        }
      );
    }
    app.commands.addCommand(CommandIDs.showPanel, {
      label: 'Show Streams Panel',
      caption: 'Connection, topics and running chains of jupyter-streamkit',
      icon: streamsIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    palette?.addItem({ command: CommandIDs.showPanel, category: 'Streams' });
  }
};

const exportPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-streamkit:export',
  description: 'Export a notebook’s %%stream chain as a service.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    app.commands.addCommand(CommandIDs.exportChain, {
      label: args =>
        args.toolbar ? 'Export' : 'Export Stream Chain as a Service…',
      caption:
        'Write the notebook’s %%stream chain as a deployable Quix Streams service folder',
      icon: args => (args.toolbar ? streamsIcon : undefined),
      isEnabled: () => tracker.currentWidget !== null,
      execute: async args => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return null;
        }
        const outdir = typeof args.outdir === 'string' ? args.outdir : undefined;
        return exportNotebook(panel, { outdir, quiet: args.quiet === true });
      }
    });
    palette?.addItem({ command: CommandIDs.exportChain, category: 'Streams' });
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel) => {
        const button = new ToolbarButton({
          className: 'kit-ExportButton',
          icon: streamsIcon,
          label: 'Export',
          tooltip: 'Export the %%stream chain as a service',
          onClick: () => void exportNotebook(panel)
        });
        panel.toolbar.insertAfter('cellType', 'kit-export', button);
        return button;
      }
    });
  }
};

const badgesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-streamkit:badges',
  description: 'Badges on %%stream cells with the step’s live state.',
  autoStart: true,
  requires: [INotebookTracker, IStreamsModel],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    model: StreamsModel
  ) => {
    const badges = new Map<NotebookPanel, CellBadges>();
    const current = () => {
      for (const [panel, b] of badges) {
        b.setCurrent(panel === tracker.currentWidget);
      }
    };
    tracker.widgetAdded.connect((_, panel) => {
      const b = new CellBadges(panel, model);
      badges.set(panel, b);
      panel.disposed.connect(() => badges.delete(panel));
      current();
    });
    tracker.currentChanged.connect(current);
  }
};

export default [modelPlugin, panelPlugin, exportPlugin, badgesPlugin];
