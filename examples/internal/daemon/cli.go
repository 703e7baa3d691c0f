package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// CLI is a command line tool with subcommands, each with flags of its own,
// and global flags that may stand anywhere before the command's own.
type CLI struct {
	// Name is the program's name, as typed.
	Name string
	// Summary says in a sentence what the tool does.
	Summary string
	// Globals registers the global flags on fs. It is called once for the
	// flags before the command's name; the same flag.Values are then
	// offered again after it.
	Globals func(fs *flag.FlagSet)
	// Commands are the subcommands, in the order the usage lists them.
	Commands []Command
}

// Command is one subcommand.
type Command struct {
	// Name is the word that selects it.
	Name string
	// Args is the usage of its flags and arguments, e.g. "[-m] [-json]".
	Args string
	// Summary says in a line what it does.
	Summary string
	// Flags registers the command's own flags on fs and returns the action
	// that runs once they are parsed; the action's args are what follows
	// the flags. A command without flags registers none.
	Flags func(fs *flag.FlagSet) Action
}

// Action runs a parsed command.
type Action func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Run parses args (without the program name) and runs the command they name.
func (c *CLI) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	global.SetOutput(stderr)
	if c.Globals != nil {
		c.Globals(global)
	}
	global.Usage = func() { c.usage(stderr, global) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if global.NArg() == 0 {
		c.usage(stderr, global)
		return fmt.Errorf("%w: no command", ErrUsage)
	}
	name := global.Arg(0)
	if name == "help" {
		c.usage(stdout, global)
		return nil
	}
	cmd, ok := c.command(name)
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", c.Name, name)
		c.usage(stderr, global)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, name)
	}
	fs := flag.NewFlagSet(c.Name+" "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var action Action
	if cmd.Flags != nil {
		action = cmd.Flags(fs)
	}
	// The global flags again, sharing their values, so that they may follow
	// the command's name; a command's own flag of the same name wins.
	global.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) == nil {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s %s %s\n\n%s\n\nflags (the global ones may stand here too):\n", c.Name, cmd.Name, cmd.Args, cmd.Summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(global.Args()[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if action == nil {
		return fmt.Errorf("%s %s: command has no action", c.Name, cmd.Name)
	}
	return action(ctx, fs.Args(), stdout, stderr)
}

func (c *CLI) command(name string) (Command, bool) {
	for _, cmd := range c.Commands {
		if cmd.Name == name {
			return cmd, true
		}
	}
	return Command{}, false
}

func (c *CLI) usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s [global flags] COMMAND [flags] [args]\n\n%s\n\ncommands:\n", c.Name, c.Summary)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, cmd := range c.Commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", cmd.Name, cmd.Args, cmd.Summary)
	}
	_ = tw.Flush()
	var b strings.Builder
	global.SetOutput(&b)
	global.PrintDefaults()
	global.SetOutput(w)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nglobal flags (before or after the command):\n%s", b.String())
	}
	fmt.Fprintf(w, "\n%q prints a command's own flags.\n", c.Name+" COMMAND -h")
}

// UsageError returns ErrUsage for a command whose arguments are wrong, after
// printing msg to w.
func UsageError(w io.Writer, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(w, msg)
	return fmt.Errorf("%w: %s", ErrUsage, msg)
}
