/**
 * Pure logic of the panel, the badges and the Export command: no DOM, no
 * JupyterLab imports, so it is unit-tested as it is (test/format.test.ts).
 */

/** What `/kit/api/connection` answers. */
export interface IConnectionInfo {
  connected: boolean;
  address?: string;
  profile?: string;
  guarantee?: string;
  embedded?: boolean;
  transactions?: boolean;
  error?: string;
}

/** One row of `/kit/api/topics`. */
export interface ITopicInfo {
  name: string;
  partitions: number;
  messages: number;
  /** Messages per second since the server's previous answer (null at first). */
  rate: number | null;
}

/** One step of a running service, as its status file reports it. */
export interface IStepStatus {
  name: string;
  kind: string;
  input: string;
  output: string;
  guarantee: string;
  records_in: number;
  records_out: number;
  dlq: number;
  /** Records a window dropped because they came after it closed. */
  late?: number;
  /** Fields of the input that appeared since export (schema drift). */
  new_fields?: string[];
  /** Bad records whose value had another type than before. */
  conflicts?: number;
  errors: number;
  last_error: string | null;
  lag: number | null;
  rate: number;
  state: string;
}

/** One row of `/kit/api/services`. */
export interface IServiceInfo {
  name: string;
  pid: number;
  folder: string;
  started_at: number;
  steps: IStepStatus[];
  /** What the service did that its user should know (a reset of local state). */
  notices?: string[];
}

/** A service that ended on its own (`ended` in `/kit/api/services`). */
export interface IEndedService {
  name: string;
  /** How it ended, in words: 'crashed (SIGSEGV)', 'failed (exit code 1)'... */
  how: string;
  /** When (seconds since the epoch). */
  ended_at: number;
  /** Its log file, and the last lines of it. */
  log: string;
  log_tail: string;
}

/** Everything the panel and the badges show, fetched together. */
export interface ISnapshot {
  connection: IConnectionInfo;
  topics: ITopicInfo[];
  services: IServiceInfo[];
  ended: IEndedService[];
  /** The error of the last fetch, if it failed (the panel keeps old data). */
  error: string | null;
  /** When it was fetched (ms since the epoch). */
  at: number;
}

/** A compact count: 950, 12.3k, 4.56M. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  const abs = Math.abs(n);
  if (abs < 1000) {
    return String(Math.round(n));
  }
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k']
  ];
  for (const [size, unit] of units) {
    if (abs >= size) {
      const value = n / size;
      const digits = Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0;
      return `${value.toFixed(digits)}${unit}`;
    }
  }
  return String(n);
}

/** A rate in messages per second: '–' when unknown, '0' when idle. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) {
    return '–';
  }
  if (rate > 0 && rate < 1) {
    return rate.toFixed(1);
  }
  return formatCount(rate);
}

/** Topics the panel lists: the user's, not the broker's or Quix's internals. */
export function visibleTopics(
  topics: ITopicInfo[],
  filter = '',
  showInternal = false
): ITopicInfo[] {
  const needle = filter.trim().toLowerCase();
  return topics
    .filter(t => showInternal || !isInternalTopic(t.name))
    .filter(t => !needle || t.name.toLowerCase().includes(needle))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Broker internals (`__consumer_offsets`) and Quix Streams' own topics. */
export function isInternalTopic(name: string): boolean {
  return (
    name.startsWith('__') ||
    name.startsWith('changelog__') ||
    name.startsWith('repartition__')
  );
}

/** A `%%stream` cell's first line, parsed like the kernel parses it. */
export interface IStreamCell {
  /** The step name, or 'helpers' for a helpers cell. */
  name: string;
  helpers: boolean;
  input: string | null;
  output: string | null;
  quix: boolean;
}

/**
 * Parse a cell's source; null when it is not a `%%stream` cell.
 *
 * Mirrors `kit.chain.capture.parse_cell_line` for the badge (a malformed
 * line still gets a badge naming the step, the kernel reports the error).
 */
export function parseStreamCell(source: string): IStreamCell | null {
  const first = source.replace(/^\s+/, '').split('\n', 1)[0];
  const match = /^%%stream(?:\s+(.*))?$/.exec(first.trimEnd());
  if (!match) {
    return null;
  }
  const words = shellSplit(match[1] ?? '');
  if (words.length === 0 || words[0].startsWith('-')) {
    return null;
  }
  if (words[0] === 'helpers') {
    return {
      name: 'helpers',
      helpers: true,
      input: null,
      output: null,
      quix: false
    };
  }
  const cell: IStreamCell = {
    name: words[0],
    helpers: false,
    input: null,
    output: null,
    quix: false
  };
  for (let i = 1; i < words.length; i++) {
    const word = words[i];
    const [flag, inline] = word.includes('=')
      ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]
      : [word, null];
    if (flag === '--quix') {
      cell.quix = true;
    } else if (flag === '--input' || flag === '--output') {
      const value = inline ?? words[++i] ?? null;
      if (flag === '--input') {
        cell.input = value;
      } else {
        cell.output = value;
      }
    }
  }
  return cell;
}

/** Split like a POSIX shell (quotes, backslashes); enough for a magic line. */
export function shellSplit(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) {
        quote = null;
      } else if (ch === '\\' && quote === '"' && i + 1 < line.length) {
        current += line[++i];
      } else {
        current += ch;
      }
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) {
        words.push(current);
        current = '';
        inWord = false;
      }
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) {
    words.push(current);
  }
  return words;
}

/** A step as it runs live somewhere, with the service running it. */
export interface ILiveStep {
  service: string;
  step: IStepStatus;
}

/** Index the running steps by step name (the first service wins). */
export function liveSteps(services: IServiceInfo[]): Map<string, ILiveStep> {
  const out = new Map<string, ILiveStep>();
  for (const service of services) {
    for (const step of service.steps ?? []) {
      if (!out.has(step.name)) {
        out.set(step.name, { service: service.name, step });
      }
    }
  }
  return out;
}

/** What a cell badge shows. */
export interface IBadge {
  text: string;
  /** 'live', 'error', 'idle' (not running) or 'helpers'. */
  state: 'live' | 'error' | 'idle' | 'helpers';
  title: string;
}

/** The badge of a `%%stream` cell given what runs live. */
export function badgeFor(
  cell: IStreamCell,
  live: Map<string, ILiveStep>
): IBadge {
  if (cell.helpers) {
    return {
      text: 'stream helpers',
      state: 'helpers',
      title: 'Captured into the chain and every exported service.'
    };
  }
  const kind = cell.quix ? 'Quix step' : 'Polars step';
  const source = cell.input ? ` ← ${cell.input}` : '';
  const found = live.get(cell.name);
  if (!found) {
    return {
      text: `${cell.name}${source}`,
      state: 'idle',
      title: `${kind} ${cell.name}: not running live. Run the cell to prototype it, %stream run to run the chain live.`
    };
  }
  const { step, service } = found;
  const problems = step.errors + step.dlq;
  const parts = [`${cell.name}${source}`, `● ${step.state}`];
  parts.push(`${formatRate(step.rate)} msg/s`);
  if (step.lag !== null && step.lag !== undefined) {
    parts.push(`lag ${formatCount(step.lag)}`);
  }
  if (problems > 0) {
    parts.push(`${formatCount(problems)} to DLQ/errors`);
  }
  if (step.late) {
    parts.push(`${formatCount(step.late)} late`);
  }
  const drift = schemaDrift(step);
  if (drift) {
    parts.push(drift);
  }
  const error = step.errors > 0 || step.state === 'failed';
  return {
    text: parts.join(' · '),
    state: error ? 'error' : 'live',
    title:
      `${kind} ${cell.name}, live in service ${service} (${step.guarantee}): ` +
      `${step.records_in} in, ${step.records_out} out, ${step.dlq} to ${step.input}.dlq` +
      (step.late ? `, ${step.late} dropped as late` : '') +
      (step.last_error ? `. Last error: ${step.last_error}` : '')
  };
}

/** How a step's input schema moved since export: '+2 fields · 3 conflicts'. */
export function schemaDrift(step: IStepStatus): string {
  const parts: string[] = [];
  const added = step.new_fields ?? [];
  if (added.length > 0) {
    parts.push(`+${added.length} field${added.length > 1 ? 's' : ''}`);
  }
  const conflicts = step.conflicts ?? 0;
  if (conflicts > 0) {
    parts.push(`${formatCount(conflicts)} conflict${conflicts > 1 ? 's' : ''}`);
  }
  return parts.join(' \u00b7 ');
}

/** The default export folder: `<stem>-service` beside the notebook. */
export function defaultExportDir(notebookPath: string): string {
  const slash = notebookPath.lastIndexOf('/');
  const dir = slash >= 0 ? notebookPath.slice(0, slash) : '';
  const base = slash >= 0 ? notebookPath.slice(slash + 1) : notebookPath;
  const stem = base.replace(/\.ipynb$/i, '') || 'chain';
  const name = `${stem.replace(/[^A-Za-z0-9_.-]+/g, '-')}-service`;
  return dir ? `${dir}/${name}` : name;
}

/** Why an export folder is refused before asking the server, or null. */
export function exportDirProblem(outdir: string): string | null {
  const trimmed = outdir.trim();
  if (!trimmed) {
    return 'Give a folder for the service, e.g. my-service.';
  }
  if (trimmed.startsWith('/') || /^[A-Za-z]:[\\/]/.test(trimmed)) {
    return `${trimmed} is absolute: give a folder relative to the Jupyter root.`;
  }
  if (trimmed.split(/[\\/]/).includes('..')) {
    return `${trimmed} leaves the Jupyter root: remove the '..'.`;
  }
  return null;
}

/** How long ago, for the panel's footer: 'just now', '12 s ago', '3 min ago'. */
export function ago(then: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 2) {
    return 'just now';
  }
  if (seconds < 120) {
    return `${seconds} s ago`;
  }
  return `${Math.round(seconds / 60)} min ago`;
}

/** The last `lines` non-empty lines of a log tail. */
export function lastLines(tail: string, lines = 3): string[] {
  return tail
    .split('\n')
    .filter(line => line.trim() !== '')
    .slice(-lines);
}

/** Uptime of a service started at `startedAt` (s since the epoch). */
export function uptime(startedAt: number, nowMs: number): string {
  const seconds = Math.max(0, Math.floor(nowMs / 1000 - startedAt));
  if (seconds < 60) {
    return `${seconds} s`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min`;
  }
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}
