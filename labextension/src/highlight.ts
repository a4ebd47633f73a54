/**
 * JSON highlighting for the body of `%%atlas METHOD PATH` cells.
 *
 * The cell language stays Python (the kernel's); a CodeMirror view plugin adds mark
 * decorations over the JSON tokens below a first line starting with `%%atlas`. Nothing
 * happens in any other cell.
 */
import { RangeSetBuilder } from '@codemirror/state';
import { Decoration, DecorationSet, EditorView, ViewPlugin, ViewUpdate } from '@codemirror/view';

const FIRST_LINE = /^%%atlas\b/;
const TOKEN =
  /("(?:[^"\\\n]|\\.)*"?)(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}[\],:])/g;

const marks = {
  key: Decoration.mark({ class: 'cm-atlas-json-key' }),
  string: Decoration.mark({ class: 'cm-atlas-json-string' }),
  number: Decoration.mark({ class: 'cm-atlas-json-number' }),
  literal: Decoration.mark({ class: 'cm-atlas-json-literal' }),
  punct: Decoration.mark({ class: 'cm-atlas-json-punct' })
};

/** Token spans `[from, to, kind]` of the JSON body of an `%%atlas` cell (empty otherwise). */
function atlasJsonTokens(text: string): [number, number, keyof typeof marks][] {
  const newline = text.indexOf('\n');
  const first = newline < 0 ? text : text.slice(0, newline);
  if (!FIRST_LINE.test(first) || newline < 0) {
    return [];
  }
  const out: [number, number, keyof typeof marks][] = [];
  const body = text.slice(newline + 1);
  const offset = newline + 1;
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN.exec(body)) !== null) {
    const start = offset + m.index;
    if (m[1] !== undefined) {
      out.push([start, start + m[1].length, m[2] !== undefined ? 'key' : 'string']);
    } else if (m[3] !== undefined) {
      out.push([start, start + m[3].length, 'number']);
    } else if (m[4] !== undefined) {
      out.push([start, start + m[4].length, 'literal']);
    } else if (m[5] !== undefined) {
      out.push([start, start + 1, 'punct']);
    }
  }
  return out;
}

function build(view: EditorView): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  for (const [from, to, kind] of atlasJsonTokens(view.state.doc.toString())) {
    builder.add(from, to, marks[kind]);
  }
  return builder.finish();
}

export const atlasCellMagicHighlight = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = build(view);
    }
    update(update: ViewUpdate): void {
      if (update.docChanged) {
        this.decorations = build(update.view);
      }
    }
  },
  { decorations: v => v.decorations }
);
