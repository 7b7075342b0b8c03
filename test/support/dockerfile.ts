/**
 * Just enough of a Dockerfile reader for the release tests to run the file's own steps: stages,
 * and per stage its instructions (continuations joined, comments dropped), ENV pairs, COPY
 * sources and destination, and the exec-form CMD and HEALTHCHECK. Anything it does not
 * understand is an error, never a guess.
 */
export interface Instruction {
  keyword: string;
  /** Flags such as `--from=build` or `--mount=...`, by name. */
  flags: Record<string, string>;
  /** The rest of the line after the flags. */
  args: string;
}

export interface Stage {
  name: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const flags: Record<string, string> = {};
    let args = rest!;
    for (let flag = /^--([a-z-]+)=(\S+)\s+/.exec(args); flag; flag = /^--([a-z-]+)=(\S+)\s+/.exec(args)) {
      flags[flag[1]!] = flag[2]!;
      args = args.slice(flag[0].length);
    }
    const instruction = { keyword: keyword!.toUpperCase(), flags, args };
    if (instruction.keyword === 'FROM') {
      const name = / AS (\S+)$/i.exec(args)?.[1];
      if (!name) throw new Error(`every stage needs a name: ${line}`);
      stages.push({ name, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    } else if (instruction.keyword !== 'ARG') {
      throw new Error(`an instruction before the first FROM: ${line}`);
    }
  }
  return stages;
}

/** `KEY=value` pairs of an ENV instruction (unquoted values only). */
export function envPairs(instruction: Instruction): Record<string, string> {
  return Object.fromEntries(
    instruction.args.split(/\s+/).map((pair) => {
      const match = /^([A-Z_][A-Z0-9_]*)=([^"'\s]*)$/.exec(pair);
      if (!match) throw new Error(`unsupported ENV syntax: ${pair}`);
      return [match[1]!, match[2]!];
    }),
  );
}

/** An exec-form command (`["node", "dist/main.js"]`). */
export function execForm(args: string): string[] {
  const command = JSON.parse(args) as unknown;
  if (!Array.isArray(command) || command.length === 0 || !command.every((part) => typeof part === 'string')) {
    throw new Error(`not an exec-form command: ${args}`);
  }
  return command as string[];
}

/** The health check's command (after its options). */
export function healthcheckCommand(instruction: Instruction): string[] {
  const match = /^CMD\s+(\[.*\])$/.exec(instruction.args);
  if (!match) throw new Error(`unsupported HEALTHCHECK: ${instruction.args}`);
  return execForm(match[1]!);
}
