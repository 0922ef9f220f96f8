import { type CommandSpec, type Flag, type FlagGroup, derivedEnvName, envName } from './table.js';

/** A command's --help, written from its flag table: grouped, aligned, defaults shown. */

/** Column where flag descriptions start, and the width they wrap at. */
const COLUMN = 28;
const WIDTH = 110;

const PLACEHOLDER: Record<Flag['type'], string> = { string: 'VALUE', boolean: '', int: 'N', number: 'X', bytes: 'SIZE', list: 'a,b' };

export function helpText(spec: CommandSpec): string {
  const lines = [`modelpipe ${spec.name} ${spec.usage}`];
  if (spec.about !== undefined) lines.push(spec.about);
  for (const g of spec.groups) lines.push(...groupLines(g));
  lines.push(...flagLines('help', spec.flags.help as Flag));
  if (spec.footer !== undefined) lines.push(spec.footer);
  // Continuation lines hang deeper, so none reads as a flag's row.
  lines.push(...wrap(envFooter(spec), 2, 4));
  return lines.join('\n');
}

function groupLines(g: FlagGroup): string[] {
  const out = g.title !== undefined ? [`  ${g.title}`] : [];
  for (const [name, f] of Object.entries(g.flags)) out.push(...flagLines(name, f));
  if (g.note !== undefined) out.push(...wrap(g.note, COLUMN));
  return out;
}

export function flagLines(name: string, f: Flag): string[] {
  const value = f.type === 'boolean' ? '' : ` ${f.value ?? f.choices?.join('|') ?? PLACEHOLDER[f.type]}`;
  const left = `  ${f.short !== undefined ? `-${f.short}, ` : ''}--${name}${value}`;
  const shown = f.default ?? f.defaultNote;
  const variable = envName(name, f);
  const text = [
    f.help,
    shown !== undefined ? `(default: ${shown})` : '',
    f.multiple ? '(repeatable)' : '',
    variable !== derivedEnvName(name) && variable !== undefined ? `[env ${variable}]` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const body = wrap(text, COLUMN);
  if (left.length >= COLUMN - 1) return [left, ...body];
  return [left.padEnd(COLUMN) + (body[0] ?? '').trimStart(), ...body.slice(1)];
}

/** Words of `text` in lines of at most WIDTH columns, indented by `indent` (continuation lines by `hang`). */
function wrap(text: string, indent: number, hang = indent): string[] {
  const out: string[] = [];
  let line = '';
  const margin = (): number => (out.length === 0 ? indent : hang);
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && margin() + line.length + 1 + word.length > WIDTH) {
      out.push(' '.repeat(margin()) + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(' '.repeat(margin()) + line);
  return out;
}

/** How the environment sets flags, with an example from this command's own table. */
function envFooter(spec: CommandSpec): string {
  const entries = Object.entries(spec.flags);
  const example = entries.find(([n, f]) => f.type !== 'boolean' && envName(n, f) === derivedEnvName(n));
  const none = entries.filter(([n, f]) => f.env === false && n !== 'help').map(([n]) => `--${n}`);
  const renamed = entries.some(([n, f]) => typeof f.env === 'string' && f.env !== derivedEnvName(n));
  let text = 'Environment: every flag --foo-bar can also be set as MODELPIPE_FOO_BAR';
  if (example) text += ` (e.g. ${envName(example[0], example[1])} for --${example[0]})`;
  if (renamed) text += ' or as the variable shown beside it';
  text += '; switches as 1/true or 0/false; a flag on the command line wins over its variable.';
  if (none.length > 0) text += ` Not from the environment: ${none.join(', ')}.`;
  return text;
}
