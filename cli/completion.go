package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

// The scripts ask the CLI itself what can come next (urfave/cli's
// --generate-bash-completion), so they never go stale as commands change.
const bashCompletion = `# bash completion for ibex: source it, or install it as
# /etc/bash_completion.d/ibex (ibex completion bash > /etc/bash_completion.d/ibex)
_ibex_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _ibex_complete ibex
`

const zshCompletion = `#compdef ibex
# zsh completion for ibex: put it in a directory of your $fpath as _ibex
# (ibex completion zsh > "${fpath[1]}/_ibex"), then run compinit.
_ibex() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} "$cur" --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _ibex ibex
`

func completionCmd() *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash or zsh",
		ArgsUsage: "bash|zsh",
		Description: `Examples:
   source <(ibex completion bash)
   ibex completion zsh > "${fpath[1]}/_ibex"`,
		Action: func(c *ucli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			}
			return fmt.Errorf("completion: say which shell: bash or zsh")
		},
	}
}
