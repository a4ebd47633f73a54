/**
 * MIME renderer for `application/vnd.atlas.pagerduty.incidents+json`.
 *
 * Payload (version 1, documented in labextension/README.md; written by
 * atlas_canvas/pagerduty/_display.py; every field optional, unknown ones ignored):
 *   {"version": 1, "adapter", "total", "shown", "truncated", "counts": {status: n},
 *    "incidents": [{id, incident_number, title, status, urgency, priority, service, teams,
 *                   assignees, created_at, acknowledged_at, resolved_at, html_url, ...}]}
 *
 * Incident data comes from a third party: it is only ever set with `textContent`, links
 * only for http(s) URLs, with rel="noopener noreferrer".
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { el } from './dom';

const MIME_TYPE = 'application/vnd.atlas.pagerduty.incidents+json';

const KNOWN_STATUS = ['triggered', 'acknowledged', 'resolved'];
const KNOWN_URGENCY = ['high', 'low'];

function str(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (typeof value === 'object') {
    // PagerDuty references: {id, summary, name, ...}
    const obj = value as Record<string, unknown>;
    for (const key of ['summary', 'name', 'title', 'email', 'id']) {
      if (typeof obj[key] === 'string' && obj[key]) {
        return obj[key] as string;
      }
    }
    const nested = obj['assignee'] ?? obj['user'];
    if (nested && typeof nested === 'object') {
      return str(nested);
    }
  }
  return '';
}

/** "5 minutes ago", "in 2 hours", "3 days ago" (relative to `now`). */
function relativeTime(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    return iso;
  }
  const seconds = Math.round((t - now) / 1000);
  const abs = Math.abs(seconds);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['year', 365 * 86400],
    ['month', 30 * 86400],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1]
  ];
  const fmt = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  for (const [unit, size] of units) {
    if (abs >= size || unit === 'second') {
      return fmt.format(Math.round(seconds / size), unit);
    }
  }
  return iso;
}

function safeHref(value: unknown): string | null {
  if (typeof value !== 'string') {
    return null;
  }
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

function timeCell(value: unknown, className: string): HTMLElement {
  const cell = el('td', className);
  if (typeof value === 'string' && value) {
    const time = el('time', undefined, relativeTime(value));
    time.dateTime = value;
    time.title = value;
    cell.appendChild(time);
  }
  return cell;
}

function badge(kind: string, value: unknown, known: string[]): HTMLElement {
  const text = str(value);
  const span = el('span', `jp-AtlasIncidents-badge jp-AtlasIncidents-${kind}`, text || '—');
  span.dataset[kind] = known.includes(text) ? text : 'other';
  return span;
}

class IncidentsRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('jp-AtlasIncidents');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this.options.mimeType] as any;
    this.node.textContent = '';
    const payload = data && typeof data === 'object' ? data : {};
    const incidents: any[] = Array.isArray(payload.incidents) ? payload.incidents : [];
    const total = typeof payload.total === 'number' ? payload.total : incidents.length;

    const summary = el('div', 'jp-AtlasIncidents-summary');
    // Counts over all incidents when the kernel sends them; else over the rows shown.
    const counts = new Map<string, number>();
    if (payload.counts && typeof payload.counts === 'object' && !Array.isArray(payload.counts)) {
      for (const [status, n] of Object.entries(payload.counts)) {
        if (typeof n === 'number' && n > 0) {
          counts.set(status, n);
        }
      }
    } else {
      for (const inc of incidents) {
        const s = str(inc?.status) || 'unknown';
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
    }
    let headline = `${total} incident${total === 1 ? '' : 's'}`;
    if (payload.adapter && typeof payload.adapter === 'string') {
      headline += ` from ${payload.adapter}`;
    }
    summary.appendChild(el('strong', undefined, headline));
    for (const [status, n] of counts) {
      const chip = badge('status', status, KNOWN_STATUS);
      chip.textContent = `${n} ${status}`;
      summary.appendChild(chip);
    }
    if (incidents.length < total || payload.truncated === true) {
      summary.appendChild(
        el('span', 'jp-AtlasIncidents-shown', `showing ${incidents.length} of ${total}`)
      );
    }
    this.node.appendChild(summary);

    if (incidents.length === 0) {
      this.node.appendChild(el('div', 'jp-AtlasIncidents-empty', 'No incidents.'));
      return Promise.resolve();
    }

    const hasPriority = incidents.some(i => i && str(i.priority));
    const table = el('table', 'jp-AtlasIncidents-table');
    const head = el('tr');
    const labels = ['#', 'Title', 'Status', 'Urgency'];
    if (hasPriority) {
      labels.push('Priority');
    }
    labels.push('Service', 'Created', 'Assignees');
    for (const label of labels) {
      head.appendChild(el('th', undefined, label));
    }
    table.appendChild(el('thead')).appendChild(head);
    const body = el('tbody');
    for (const raw of incidents) {
      const inc = raw && typeof raw === 'object' ? raw : {};
      const row = el('tr', 'jp-AtlasIncidents-row');
      row.dataset.status = KNOWN_STATUS.includes(str(inc.status)) ? str(inc.status) : 'other';
      row.appendChild(el('td', 'jp-AtlasIncidents-number', str(inc.incident_number ?? inc.id)));

      const titleCell = el('td', 'jp-AtlasIncidents-title');
      const title = str(inc.title ?? inc.summary) || '(no title)';
      const href = safeHref(inc.html_url);
      if (href) {
        const a = el('a', undefined, title);
        a.href = href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        titleCell.appendChild(a);
      } else {
        titleCell.textContent = title;
      }
      row.appendChild(titleCell);

      const statusCell = el('td');
      statusCell.appendChild(badge('status', inc.status, KNOWN_STATUS));
      row.appendChild(statusCell);
      const urgencyCell = el('td');
      urgencyCell.appendChild(badge('urgency', inc.urgency, KNOWN_URGENCY));
      row.appendChild(urgencyCell);

      if (hasPriority) {
        row.appendChild(el('td', 'jp-AtlasIncidents-priority', str(inc.priority)));
      }
      const service = el('td', 'jp-AtlasIncidents-service', str(inc.service));
      const teams = Array.isArray(inc.teams) ? inc.teams.map(str).filter(Boolean) : [];
      if (teams.length) {
        service.appendChild(el('div', 'jp-AtlasIncidents-sub', teams.join(', ')));
      }
      row.appendChild(service);
      const created = timeCell(inc.created_at, 'jp-AtlasIncidents-created');
      const lastChange = inc.resolved_at ?? inc.acknowledged_at;
      if (typeof lastChange === 'string' && lastChange) {
        const verb = inc.resolved_at ? 'resolved' : 'acknowledged';
        created.appendChild(
          el('div', 'jp-AtlasIncidents-sub', `${verb} ${relativeTime(lastChange)}`)
        );
      }
      row.appendChild(created);
      const assignees = Array.isArray(inc.assignees) ? inc.assignees.map(str).filter(Boolean) : [];
      row.appendChild(el('td', 'jp-AtlasIncidents-assignees', assignees.join(', ')));
      body.appendChild(row);
    }
    table.appendChild(body);
    this.node.appendChild(table);
    return Promise.resolve();
  }
}

const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  // Ahead of text/html (rank 50) so JupyterLab picks the rich view; other front ends use
  // the HTML or text/plain the kernel sends along.
  defaultRank: 40,
  createRenderer: options => new IncidentsRenderer(options)
};

const extension: IRenderMime.IExtension = {
  id: 'atlas-canvas:incidents-renderer',
  description: 'Renders PagerDuty incidents sent by %atlas incidents.',
  rendererFactory,
  rank: 40,
  dataType: 'json'
};

export default extension;
