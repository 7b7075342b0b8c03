/**
 * `deputy completion bash|zsh`: a completion script generated from the command tree itself, so
 * it always knows every command, alias and option. zsh uses the same function through
 * bashcompinit.
 */
import { Argument, type Command } from 'commander';
import { out } from '../output.js';
import { examples } from '../options.js';

interface Node {
  path: string;
  command: Command;
}

function walk(command: Command, path = ''): Node[] {
  return [{ path, command }, ...command.commands.flatMap((sub) => walk(sub, path ? `${path} ${sub.name()}` : sub.name()))];
}

function candidates(command: Command): string[] {
  const options = command.options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => Boolean(flag)));
  return [...command.commands.map((sub) => sub.name()), ...options, '--help'];
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const nodes = walk(program);
  const globals = candidates(program).filter((flag) => flag.startsWith('-'));
  const cases = nodes.map(({ path, command }) => {
    const words = [...candidates(command), ...(path ? globals : [])];
    return `    ${quote(path)}) echo ${quote([...new Set(words)].join(' '))} ;;`;
  });
  const aliases = nodes.flatMap(({ path, command }) => {
    const parent = path.split(' ').slice(0, -1).join(' ');
    return command.aliases().map((alias) => `    ${quote(`${parent}/${alias}`)}) echo ${quote(command.name())} ;;`);
  });
  return `# deputy completion for bash: eval "$(deputy completion bash)", or save it in your bash-completion directory.
_deputy_words() {
  case "$1" in
${cases.join('\n')}
  esac
}
_deputy_name() {
  case "$1/$2" in
${aliases.join('\n')}
    *) echo "$2" ;;
  esac
}
_deputy() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" i word
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    word="$(_deputy_name "$path" "$word")"
    if [[ " $(_deputy_words "$path") " == *" $word "* ]]; then path="\${path:+$path }$word"; fi
  done
  COMPREPLY=($(compgen -W "$(_deputy_words "$path")" -- "$cur"))
}
complete -o default -F _deputy deputy
`;
}

export function zshCompletion(program: Command): string {
  return `#compdef deputy
# deputy completion for zsh: eval "$(deputy completion zsh)" after compinit.
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

export function completionCommand(program: Command): void {
  examples(
    program
      .command('completion')
      .description('print a shell completion script')
      .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
      .action((shell: 'bash' | 'zsh') => out(shell === 'bash' ? bashCompletion(program) : zshCompletion(program))),
    'eval "$(deputy completion bash)"      # in ~/.bashrc',
    'eval "$(deputy completion zsh)"       # in ~/.zshrc, after compinit',
  );
}
