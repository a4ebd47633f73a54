/**
 * The Atlas sidebar: adapters with live health, "insert snippet", and an add-adapter form.
 *
 * Everything shown from the server goes through `textContent` (never `innerHTML`): adapter
 * names, URLs and error messages are data.
 */
import { Widget } from '@lumino/widgets';

import {
  AtlasApiError,
  IAdapter,
  IAdapterList,
  IHealth,
  addAdapter,
  adapterHealth,
  listAdapters
} from './api';
import { el } from './dom';
import { snippetFor } from './snippets';

/** How often health is re-checked while the sidebar is visible. */
const HEALTH_INTERVAL_MS = 30_000;

export interface ISidebarOptions {
  /** Insert `code` as a new cell in the active notebook; resolve false if there is none. */
  insertSnippet: (code: string) => Promise<boolean>;
}

const STATE_LABEL: Record<string, string> = {
  ok: 'healthy',
  reachable: 'reachable',
  auth: 'credentials refused',
  error: 'upstream error',
  down: 'unreachable',
  'secret-missing': 'secret not set',
  unsupported: 'not proxied',
  pending: 'checking…'
};

export class AtlasSidebar extends Widget {
  constructor(private readonly options: ISidebarOptions) {
    super();
    this.id = 'atlas-canvas-sidebar';
    this.addClass('jp-AtlasCanvas');
    this.title.caption = 'Atlas adapters';

    const header = el('div', 'jp-AtlasCanvas-header');
    header.appendChild(el('h2', 'jp-AtlasCanvas-title', 'Atlas'));
    this._refreshButton = el('button', 'jp-AtlasCanvas-refresh jp-mod-styled', 'Refresh');
    this._refreshButton.title = 'Reload the adapters and check their health';
    this._refreshButton.addEventListener('click', () => void this.refresh());
    header.appendChild(this._refreshButton);
    this.node.appendChild(header);

    this._configLine = el('div', 'jp-AtlasCanvas-config');
    this.node.appendChild(this._configLine);
    this._message = el('div', 'jp-AtlasCanvas-message');
    this.node.appendChild(this._message);
    this._list = el('ul', 'jp-AtlasCanvas-adapters');
    this.node.appendChild(this._list);
    this.node.appendChild(this._buildForm());
  }

  /** Reload the adapter list, then check each adapter's health. */
  async refresh(): Promise<void> {
    if (this._refreshing) {
      return this._refreshing;
    }
    this._refreshing = this._refresh().finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  /** Names currently listed (for tests and other plugins). */
  get adapterNames(): string[] {
    return this._adapters.map(a => a.name);
  }

  protected onAfterAttach(): void {
    void this.refresh();
    this._timer = window.setInterval(() => {
      if (this.isVisible) {
        void this._checkAllHealth();
      }
    }, HEALTH_INTERVAL_MS);
  }

  protected onAfterShow(): void {
    // Health may be stale after the panel was collapsed (polling pauses while hidden).
    if (this._adapters.length) {
      void this._checkAllHealth();
    }
  }

  protected onBeforeDetach(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private async _refresh(): Promise<void> {
    this._refreshButton.disabled = true;
    this._setMessage('');
    try {
      let list: IAdapterList;
      try {
        list = await listAdapters();
      } catch (reason) {
        const data = reason instanceof AtlasApiError ? (reason.body as any) : null;
        if (data && typeof data.configFile === 'string') {
          this._configLine.textContent = `Config: ${data.configFile}`;
          this._form.hidden = !data.allowEdits;
        }
        this._adapters = [];
        this._renderList();
        this._setMessage(errorText(reason), true);
        return;
      }
      this._adapters = list.adapters;
      this._configLine.textContent = `Config: ${list.configFile}`;
      this._form.hidden = !list.allowEdits;
      this._renderList();
      if (list.adapters.length === 0) {
        this._setMessage('No active adapters in this config. Add one below.');
      }
      await this._checkAllHealth();
    } finally {
      this._refreshButton.disabled = false;
    }
  }

  private _renderList(): void {
    this._list.textContent = '';
    this._rows.clear();
    for (const adapter of this._adapters) {
      const item = el('li', 'jp-AtlasCanvas-adapter');
      item.dataset.adapter = adapter.name;

      const top = el('div', 'jp-AtlasCanvas-adapterTop');
      const dot = el('span', 'jp-AtlasCanvas-dot');
      dot.dataset.state = 'pending';
      top.appendChild(dot);
      top.appendChild(el('span', 'jp-AtlasCanvas-name', adapter.name));
      top.appendChild(el('span', 'jp-AtlasCanvas-kind', adapter.kind));
      item.appendChild(top);

      if (adapter.baseUrl) {
        item.appendChild(el('div', 'jp-AtlasCanvas-url', adapter.baseUrl));
      }
      const health = el('div', 'jp-AtlasCanvas-health', STATE_LABEL.pending);
      health.dataset.state = 'pending';
      item.appendChild(health);

      if (adapter.kind === 'HTTP') {
        const insert = el('button', 'jp-AtlasCanvas-insert jp-mod-styled', 'Insert snippet');
        insert.title = 'Add a cell that calls this adapter to the active notebook';
        insert.addEventListener('click', () => void this._insert(adapter));
        item.appendChild(insert);
      }
      this._rows.set(adapter.name, { dot, health });
      this._list.appendChild(item);
    }
  }

  private async _checkAllHealth(): Promise<void> {
    await Promise.all(this._adapters.map(a => this._checkHealth(a)));
  }

  private async _checkHealth(adapter: IAdapter): Promise<void> {
    let health: IHealth;
    try {
      health = await adapterHealth(adapter.name);
    } catch (reason) {
      this._showHealth(adapter.name, 'down', errorText(reason));
      return;
    }
    if (health.state === 'secret-missing') {
      const names = health.secrets.filter(s => !s.set).map(s => s.name);
      this._showHealth(adapter.name, health.state, `secret not set: ${names.join(', ')}`);
      return;
    }
    const parts = [STATE_LABEL[health.state] ?? health.state];
    if (health.status !== null) {
      parts.push(String(health.status));
    }
    if (health.latencyMs !== null && health.reachable) {
      parts.push(`${Math.round(health.latencyMs)} ms`);
    }
    if (health.message && health.state !== 'ok' && health.state !== 'reachable') {
      parts.push(health.message);
    }
    this._showHealth(adapter.name, health.state, parts.join(' · '));
  }

  private _showHealth(name: string, state: string, text: string): void {
    const row = this._rows.get(name);
    if (!row) {
      return;
    }
    row.dot.dataset.state = state;
    row.dot.title = STATE_LABEL[state] ?? state;
    row.health.dataset.state = state;
    row.health.textContent = text;
  }

  private async _insert(adapter: IAdapter): Promise<void> {
    const inserted = await this.options.insertSnippet(snippetFor(adapter));
    if (!inserted) {
      this._setMessage('Open a notebook first: the snippet goes into the active notebook.', true);
    } else {
      this._setMessage('');
    }
  }

  private _setMessage(text: string, isError = false): void {
    this._message.textContent = text;
    this._message.classList.toggle('jp-mod-error', isError);
    this._message.hidden = !text;
  }

  private _buildForm(): HTMLElement {
    const form = el('form', 'jp-AtlasCanvas-form');
    this._form = form;
    form.appendChild(el('h3', 'jp-AtlasCanvas-formTitle', 'Add an HTTP adapter'));

    const field = (label: string, input: HTMLInputElement | HTMLTextAreaElement, key: string) => {
      const wrap = el('label', 'jp-AtlasCanvas-field');
      wrap.appendChild(el('span', 'jp-AtlasCanvas-label', label));
      input.name = key;
      input.classList.add('jp-mod-styled');
      wrap.appendChild(input);
      const err = el('div', 'jp-AtlasCanvas-fieldError');
      err.dataset.field = key;
      err.hidden = true;
      wrap.appendChild(err);
      this._fieldErrors.set(key, err);
      form.appendChild(wrap);
    };

    const name = el('input');
    name.placeholder = 'pagerduty';
    name.required = true;
    field('Name', name, 'name');
    const url = el('input');
    url.placeholder = 'https://api.pagerduty.com';
    url.required = true;
    field('Base URL', url, 'baseUrl');
    const headers = el('textarea');
    headers.rows = 3;
    headers.placeholder = 'Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}';
    field('Headers (one "Name: value" per line; secrets as ${{ VAR }})', headers, 'headers');

    const formError = el('div', 'jp-AtlasCanvas-fieldError jp-AtlasCanvas-formError');
    formError.dataset.field = 'form';
    formError.hidden = true;
    this._formError = formError;
    form.appendChild(formError);

    const submit = el('button', 'jp-AtlasCanvas-submit jp-mod-styled jp-mod-accept', 'Add adapter');
    submit.type = 'submit';
    form.appendChild(submit);

    form.addEventListener('submit', event => {
      event.preventDefault();
      void this._submit(name, url, headers, submit);
    });
    return form;
  }

  private async _submit(
    name: HTMLInputElement,
    url: HTMLInputElement,
    headers: HTMLTextAreaElement,
    submit: HTMLButtonElement
  ): Promise<void> {
    for (const err of [...this._fieldErrors.values(), this._formError]) {
      err.hidden = true;
      err.textContent = '';
    }
    const headerLines = headers.value
      .split('\n')
      .map(line => line.trim())
      .filter(line => line.length > 0);
    submit.disabled = true;
    try {
      const adapter = await addAdapter(name.value.trim(), url.value.trim(), headerLines);
      name.value = '';
      url.value = '';
      headers.value = '';
      await this.refresh();
      this._setMessage(`Added adapter '${adapter.name}'.`);
    } catch (reason) {
      // The server names the field an error is about; anything else shows under the form.
      const field = reason instanceof AtlasApiError ? reason.field : null;
      const target = (field !== null && this._fieldErrors.get(field)) || this._formError;
      target.textContent = errorText(reason);
      target.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }

  private _adapters: IAdapter[] = [];
  private _rows = new Map<string, { dot: HTMLElement; health: HTMLElement }>();
  /** The error line under each form field, by the field's name in the request body. */
  private _fieldErrors = new Map<string, HTMLElement>();
  /** Errors about no one field (or a field the form does not have). */
  private _formError!: HTMLElement;
  private _form!: HTMLFormElement;
  private _list: HTMLUListElement;
  private _message: HTMLElement;
  private _configLine: HTMLElement;
  private _refreshButton: HTMLButtonElement;
  private _refreshing: Promise<void> | null = null;
  private _timer: number | null = null;
}

function errorText(reason: unknown): string {
  if (reason instanceof Error) {
    return reason.message;
  }
  return String(reason);
}
