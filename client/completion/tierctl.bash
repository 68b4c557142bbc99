# bash completion for tierctl(1): commands, subcommands, flags, and the
# ladder, tier and partner-type names of the program tierd runs, asked from
# the daemon (`tierctl --json program show`, quietly, with a short timeout)
# when it answers; nothing when it does not.
#
# To add a command: one line in _tierctl_spec ("CMD" or "CMD SUB" -> its
# flags, "@FILE" when it takes a file name); a command with subcommands
# also lists them under "CMD" as "@SUB SUB...". Flags that take a value go
# in _tierctl_valued. Every command also gets --help. tests/integration/
# test_completion.c fails when a command or flag in `tierctl --help` or
# `tierctl help CMD` is missing here.

declare -gA _tierctl_spec=(
    [ping]=""
    [status]=""
    [program]="@load show"
    [program load]="--dry-run --force @FILE"
    [program show]="--yaml"
    [partner]="@put import show list delete"
    [partner put]="--type --name --attr --replace-attrs"
    [partner import]="--in-flight @FILE"
    [partner show]=""
    [partner list]="--ladder --tier --benefit --where --at-risk --limit --page"
    [partner delete]=""
    [event]="@add import"
    [event add]="--partner --metric --value --at --id --source --key --op --revision"
    [event import]="--in-flight --replay --publish-past --no-catch-up @FILE"
    [explain]="--ladder --at"
    [history]="--ladder --limit"
    [changes]="--since --limit"
    [override]="@set clear"
    [override set]="--ladder --tier --until --reason"
    [override clear]="--ladder"
    [pending]=""
    [approve]="--ladder --reason"
    [deny]="--ladder --reason"
    [benefits]="--ladder --holders --csv"
    [stats]="--by"
    [watch]="--ladder --partner --since --pub-url --long-poll"
    [clock]="@show advance"
    [clock show]=""
    [clock advance]=""
    [simulate]="--at --partner --all --json --csv @FILE"
    [audit]="--near --ladder --all --json --csv"
    [calibrate]="--ladder --target --metric --json"
    [kpi]="--from --to --ladder --by --json --csv"
    [metrics]=""
    [backup]="@FILE"
    [export]="@partners events changes"
    [export partners]="--output"
    [export events]="--since --output"
    [export changes]="--since --output"
    [help]=""
    [version]=""
    [webhook]="@deliveries resend"
    [webhook deliveries]="--dead --endpoint --limit"
    [webhook resend]="--all-dead"
)
_tierctl_globals="--url --token --json --timeout --version --help"
_tierctl_valued=" --url --token --timeout --type --name --attr --in-flight --ladder --tier
 --benefit --where --at-risk --limit --page --partner --metric --value --at --id --source --key --op
 --revision --since --until --reason --holders --by --pub-url --near --target --from --to
 --output --endpoint "

# True when the spec of command $1 lists subcommands ("@SUB ..."), not a
# file argument ("@FILE").
_tierctl_has_subs()
{
    local spec=${_tierctl_spec[$1]-}
    [[ $spec == @* && $spec != @FILE* ]]
}

# The program's names, one "KIND<TAB>LADDER<TAB>NAME" a line (KIND: ladder,
# tier or type), from the daemon reached with the line's --url/--token.
# Reads tierctl's indented JSON line by line: no JSON tool is needed.
_tierctl_names()
{
    local -a conn=()
    local i w
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
        --url | --token) conn+=("$w" "${COMP_WORDS[i + 1]}") ;;
        --url=* | --token=*) conn+=("$w") ;;
        esac
    done
    local cmd=${COMP_WORDS[0]}
    command -v "$cmd" >/dev/null 2>&1 || cmd=tierctl
    local line ladder="" list="" item
    while IFS= read -r line; do
        case $line in
        *'"ladder": "'*)
            ladder=${line#*'"ladder": "'}
            ladder=${ladder%'"'*}
            printf 'ladder\t%s\t%s\n' "$ladder" "$ladder"
            ;;
        *'"tiers": ['*) list=tier ;;
        *'"partner_types": ['*) list=type ;;
        *']'*) list="" ;;
        *)
            if [ -n "$list" ] && [ -n "$ladder" ]; then
                item=${line#*'"'}
                item=${item%'"'*}
                item=${item//\\\"/\"}
                item=${item//\\\\/\\}
                printf '%s\t%s\t%s\n' "$list" "$ladder" "$item"
            fi
            ;;
        esac
        # The versions and the YAML text follow the ladders.
        [[ $line == *'"versions": ['* ]] && break
    done < <("$cmd" "${conn[@]}" --json --timeout 500 program show 2>/dev/null </dev/null)
}

# Candidates from the daemon: kind (ladder|tier|type), restricted to
# ladder when not empty.
_tierctl_daemon_words()
{
    local kind=$1 ladder=$2 k l n
    while IFS=$'\t' read -r k l n; do
        [ "$k" = "$kind" ] || continue
        [ -z "$ladder" ] || [ "$l" = "$ladder" ] || continue
        printf '%s\n' "$n"
    done < <(_tierctl_names) | sort -u
}

# COMPREPLY from newline-separated candidates matching $cur, quoted so
# names with spaces come back as one word.
_tierctl_reply()
{
    local cur=$1 prefix=${2-} w
    local IFS=$'\n'
    COMPREPLY=()
    for w in $3; do
        [[ $w == "$cur"* ]] && COMPREPLY+=("$prefix$(printf '%q' "$w")")
    done
}

_tierctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    # Which command and subcommand the line has so far, and its --ladder.
    # bash splits "--ladder=x" into "--ladder" "=" "x" (COMP_WORDBREAKS);
    # both spellings are read. Values are completed after "--flag ".
    local cmd="" sub="" ladder="" i w skip=0
    local -a topic=() # `help`'s arguments
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((skip)); then
            ((skip--))
            continue
        fi
        case $w in
        --ladder=*) ladder=${w#--ladder=} ;;
        --*=*) ;;
        -*)
            [[ $_tierctl_valued == *" $w "* ]] || continue
            skip=1
            [ "${COMP_WORDS[i + 1]-}" = "=" ] && skip=2
            [ "$w" = --ladder ] && ladder=${COMP_WORDS[i + skip]-}
            ;;
        *)
            if [ -z "$cmd" ]; then
                cmd=$w
            elif [ "$cmd" = help ]; then
                topic+=("$w")
            elif [ -z "$sub" ] && _tierctl_has_subs "$cmd"; then
                sub=$w
            fi
            ;;
        esac
    done

    # A flag's value.
    case $prev in
    --ladder)
        _tierctl_reply "$cur" "" "$(_tierctl_daemon_words ladder "")"
        return
        ;;
    --tier)
        _tierctl_reply "$cur" "" "$(_tierctl_daemon_words tier "$ladder")"$'\n'unranked
        return
        ;;
    --type)
        # A comma-separated list: complete its last element.
        local head="" last=$cur
        if [[ $cur == *,* ]]; then
            head=${cur%,*},
            last=${cur##*,}
        fi
        _tierctl_reply "$last" "$head" "$(_tierctl_daemon_words type "")"
        return
        ;;
    --op)
        _tierctl_reply "$cur" "" $'retract\namend'
        return
        ;;
    --output)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
        ;;
    esac
    if [[ $_tierctl_valued == *" $prev "* ]]; then
        COMPREPLY=()
        return
    fi

    local key=$cmd
    [ -n "$sub" ] && key="$cmd $sub"
    local spec
    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            _tierctl_reply "$cur" "" "${_tierctl_globals// /$'\n'}"
        else
            _tierctl_reply "$cur" "" "$(printf '%s\n' "${!_tierctl_spec[@]}" | grep -v ' ' | sort)"
        fi
        return
    fi
    # `help [COMMAND [SUB]]`: command names, then the group's subcommands.
    if [ "$cmd" = help ] && [[ $cur != -* ]]; then
        if ((${#topic[@]} == 0)); then
            _tierctl_reply "$cur" "" "$(printf '%s\n' "${!_tierctl_spec[@]}" | grep -v ' ' | sort)"
        elif ((${#topic[@]} == 1)) && _tierctl_has_subs "${topic[0]}"; then
            spec=${_tierctl_spec[${topic[0]}]#@}
            _tierctl_reply "$cur" "" "${spec// /$'\n'}"
        else
            COMPREPLY=()
        fi
        return
    fi
    spec=${_tierctl_spec[$key]-}
    if [ -z "$sub" ] && _tierctl_has_subs "$cmd"; then
        # A subcommand is still missing.
        spec=${spec#@}
        _tierctl_reply "$cur" "" "${spec// /$'\n'}"
        return
    fi
    if [[ $cur == -* ]]; then
        local flags="${spec//@FILE/} --help"
        _tierctl_reply "$cur" "" "$(printf '%s\n' $flags)"
    elif [[ $spec == *@FILE* ]]; then
        compopt -o filenames 2>/dev/null
        local IFS=$'\n'
        COMPREPLY=($(compgen -f -- "$cur"))
    else
        COMPREPLY=()
    fi
}
complete -F _tierctl tierctl
