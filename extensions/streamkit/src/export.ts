/**
 * The Export command: the active notebook's `%%stream` chain becomes a
 * deployable Quix Streams service folder (the server reads the saved file;
 * nothing runs in the kernel).
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { KitApiError, requestAPI } from './api';
import { defaultExportDir, exportDirProblem } from './format';

export interface IExportResult {
  ok: boolean;
  outdir?: string;
  files?: string[];
  error?: string;
}

/** Ask for a folder, export, and report the result or the blocking cell. */
export async function exportNotebook(
  panel: NotebookPanel,
  options: { outdir?: string; quiet?: boolean } = {}
): Promise<IExportResult | null> {
  let outdir = options.outdir;
  if (outdir === undefined) {
    const answer = await InputDialog.getText({
      title: 'Export stream chain as a service',
      label: 'Folder (relative to the Jupyter root); existing files are replaced:',
      text: defaultExportDir(panel.context.path),
      okLabel: 'Export'
    });
    if (!answer.button.accept || answer.value === null) {
      return null;
    }
    outdir = answer.value;
  }
  const problem = exportDirProblem(outdir);
  if (problem) {
    const result = { ok: false, error: problem };
    if (!options.quiet) {
      await report(panel, result);
    }
    return result;
  }
  // The server exports the file on disk: save the user's latest edits first.
  if (panel.context.model.dirty) {
    await panel.context.save();
  }
  let result: IExportResult;
  try {
    result = await requestAPI<IExportResult>('export', {
      method: 'POST',
      body: JSON.stringify({ notebook: panel.context.path, outdir: outdir.trim() })
    });
  } catch (error) {
    const message =
      error instanceof KitApiError
        ? String(error.body?.error ?? error.message)
        : String(error);
    result = { ok: false, error: message };
  }
  if (!options.quiet) {
    await report(panel, result);
  }
  return result;
}

async function report(panel: NotebookPanel, result: IExportResult): Promise<void> {
  const body = document.createElement('div');
  body.className = 'kit-ExportResult';
  if (result.ok) {
    const p = document.createElement('p');
    p.textContent = `Exported the chain of ${panel.context.path} to ${result.outdir}/:`;
    const list = document.createElement('ul');
    for (const file of result.files ?? []) {
      const li = document.createElement('li');
      li.textContent = file;
      list.append(li);
    }
    const hint = document.createElement('p');
    hint.textContent = `Run it with \`kit run ${result.outdir}\`, test it with \`pytest ${result.outdir}\`, or build its Dockerfile.`;
    body.append(p, list, hint);
  } else {
    body.classList.add('kit-mod-error');
    const p = document.createElement('p');
    p.textContent = result.error ?? 'Export failed.';
    body.append(p);
  }
  await showDialog({
    title: result.ok ? 'Service exported' : 'Export failed',
    body: new Widget({ node: body }),
    buttons: [Dialog.okButton()]
  });
}
