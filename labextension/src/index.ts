/**
 * atlas-canvas for JupyterLab: the Atlas sidebar and `%%atlas` cell highlighting.
 * (The incidents renderer is the MIME extension in ./mime.ts.)
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { EditorExtensionRegistry, IEditorExtensionRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { atlasCellMagicHighlight } from './highlight';
import { AtlasSidebar } from './sidebar';

export { atlasProxyFetch } from './api';

const ATLAS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
<g class="jp-icon3" fill="#616161">
<path d="M12 2a10 10 0 1 0 0 20a10 10 0 0 0 0-20zm0 2c1.3 0 2.6 2.3 3 6H9c.4-3.7 1.7-6 3-6zm-3.7.9C7.6 6.3 7.2 8 7 10H4.3a8 8 0 0 1 4-5.1zm7.4 0a8 8 0 0 1 4 5.1H17c-.2-2-.6-3.7-1.3-5.1zM4.3 12H7c.2 2 .6 3.7 1.3 5.1a8 8 0 0 1-4-5.1zm4.7 0h6c-.4 3.7-1.7 6-3 6s-2.6-2.3-3-6zm8 0h2.7a8 8 0 0 1-4 5.1c.7-1.4 1.1-3.1 1.3-5.1z"/>
</g></svg>`;

const atlasIcon = new LabIcon({ name: 'atlas-canvas:atlas', svgstr: ATLAS_SVG });

/** The notebook a snippet goes to: the one in front, else the last focused, else any visible. */
function activeNotebook(
  app: JupyterFrontEnd,
  tracker: INotebookTracker | null
): NotebookPanel | null {
  if (!tracker) {
    return null;
  }
  const current = app.shell.currentWidget;
  if (current && tracker.has(current)) {
    return current as NotebookPanel;
  }
  if (tracker.currentWidget) {
    return tracker.currentWidget;
  }
  return tracker.find(panel => panel.isVisible) ?? null;
}

const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'atlas-canvas:sidebar',
  description: 'The Atlas sidebar: adapters, health, snippets, add-adapter form.',
  autoStart: true,
  optional: [INotebookTracker, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker | null,
    restorer: ILayoutRestorer | null
  ) => {
    const sidebar = new AtlasSidebar({
      insertSnippet: async (code: string) => {
        const panel = activeNotebook(app, tracker);
        if (!panel) {
          return false;
        }
        // A cell inserted before the file's content arrives would be replaced by it.
        await panel.context.ready;
        const notebook = panel.content;
        NotebookActions.insertBelow(notebook);
        const cell = notebook.activeCell;
        if (!cell) {
          return false;
        }
        cell.model.sharedModel.setSource(code);
        app.shell.activateById(panel.id);
        return true;
      }
    });
    sidebar.title.icon = atlasIcon;
    app.shell.add(sidebar, 'left', { rank: 850 });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }
    app.commands.addCommand('atlas-canvas:refresh', {
      label: 'Atlas: Refresh Adapters',
      execute: () => sidebar.refresh()
    });
  }
};

const highlightPlugin: JupyterFrontEndPlugin<void> = {
  id: 'atlas-canvas:cell-magic-highlight',
  description: 'JSON highlighting for the body of %%atlas cells.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_app: JupyterFrontEnd, registry: IEditorExtensionRegistry) => {
    registry.addExtension({
      name: 'atlas-canvas:cell-magic-json',
      factory: () => EditorExtensionRegistry.createImmutableExtension(atlasCellMagicHighlight)
    });
  }
};

export default [sidebarPlugin, highlightPlugin];
