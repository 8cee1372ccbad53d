#!/bin/sh
# A host-tool client for native shell agents: tool.sh NAME 'JSON-INPUT'
# Prints the reply line: {"id":1,"ok":true,"result":...} or {"id":1,"ok":false,"error":{...}}.
# The sandbox passes the channel on the descriptor named by AGENTOS_TOOLS_FD (6) when the
# policy's toolAccess grants a tool.
fd="${AGENTOS_TOOLS_FD:?no tool channel: the policy grants no tool}"
printf '{"id":1,"tool":"%s","input":%s}\n' "$1" "${2:-null}" >&"$fd"
IFS= read -r reply <&"$fd"
printf '%s\n' "$reply"
