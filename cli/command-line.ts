/**
 * The one way every command line of the project is parsed (commander): `--help` everywhere,
 * usage lowercase as the project always wrote it, and a usage error exits 2 with the message
 * and the usage, never a stack trace.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';

/** A program run as `npm run <script> -- ...`; its subcommands inherit these settings. */
export function cliProgram(script: string, description: string): Command {
  return new Command(`npm run ${script} --`)
    .description(description)
    .configureHelp({ styleTitle: (title) => title.toLowerCase() })
    .configureOutput({ outputError: (text, write) => write(`${script}: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError()
    // commander exits 1 on its own errors; 1 is the project's "the run failed", 2 its "bad usage".
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

/**
 * Parses `argv` (the user's arguments) without printing or exiting, for parsers that tests
 * call directly: returns the help text when help was asked for; throws CommanderError on bad
 * usage (usageMessage() gives its text).
 */
export function parseQuietly(cmd: Command, argv: readonly string[]): { help?: string } {
  let help = '';
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => { help += s; }, writeErr: (s) => { help += s; }, outputError: () => undefined });
    c.commands.forEach(quiet);
  };
  quiet(cmd);
  try {
    cmd.parse([...argv], { from: 'user' });
    return {};
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) return { help };
    throw err;
  }
}

/** A CommanderError's message without commander's "error: " prefix. */
export function usageMessage(err: CommanderError): string {
  return err.message.replace(/^error: /, '');
}

/** An option parser for a whole number within [min, max] (commander reports a bad one as a usage error). */
export function intArg(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`a whole number from ${min} to ${max} expected`);
    }
    return n;
  };
}
