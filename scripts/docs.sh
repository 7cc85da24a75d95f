#!/usr/bin/env bash
# Builds the API reference (DocC, through swift-docc-plugin) of every library target and fails on any warning:
# a doc comment naming a parameter that does not exist, a missing `- parameter`, an unresolved link.
#
#   bash scripts/docs.sh            # archives land in .build/plugins/Swift-DocC/outputs/<Target>.doccarchive
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(AzureClientsToolbox ToolboxCore ConnectionPooling ToolboxTransport ToolboxAMQP AzureAuth AzureMessagingCore
         AzureEventHubs AzureServiceBus AzureCosmos AzureBlobStorage AzureEventGrid AzureClientsToolboxAsync
         AzureClientsToolboxTesting AzureEmulator ToolboxTransportServer ToolboxAMQPBroker AzureAuthVerification)
args=()
for target in "${targets[@]}"; do args+=(--target "$target"); done
swift package --disable-sandbox generate-documentation "${args[@]}" --warnings-as-errors
echo "docs: ${#targets[@]} targets documented without warnings"
