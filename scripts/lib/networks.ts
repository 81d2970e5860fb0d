import type { NetworkUserConfig } from "hardhat/types";

/** Public testnets we deploy to; both read their RPC endpoint and key from the environment. */
export const REMOTE_NETWORKS = {
  sepolia: { chainId: 11155111 },
  arbitrumSepolia: { chainId: 421614 },
} as const;

export type RemoteNetworkName = keyof typeof REMOTE_NETWORKS;

/** Local chains: genesis LPT goes to the deployer and the local parameter set applies. */
export const LOCAL_NETWORKS = ["hardhat", "localhost"] as const;

const PRIVATE_KEY = /^(0x)?[0-9a-fA-F]{64}$/;
// Hardhat validates every network's URL at startup, so a remote network without RPC_URL still needs a
// syntactically valid URL; the `.invalid` TLD can never resolve and the name says what is missing.
const MISSING_RPC_URL = "http://rpc-url-not-set.invalid";

export function isRemoteNetwork(name: string): name is RemoteNetworkName {
  return Object.prototype.hasOwnProperty.call(REMOTE_NETWORKS, name);
}

export function remoteNetworks(env: NodeJS.ProcessEnv): Record<RemoteNetworkName, NetworkUserConfig> {
  const key = env.DEPLOYER_KEY?.trim();
  const accounts = key !== undefined && PRIVATE_KEY.test(key) ? [key.startsWith("0x") ? key : `0x${key}`] : [];
  const url = env.RPC_URL?.trim() || MISSING_RPC_URL;
  const configs = {} as Record<RemoteNetworkName, NetworkUserConfig>;
  for (const [name, { chainId }] of Object.entries(REMOTE_NETWORKS)) {
    configs[name as RemoteNetworkName] = { url, chainId, accounts };
  }
  return configs;
}

/**
 * Problems with the environment a remote network needs, in words an operator can act on.
 * Empty when the network is local or fully configured.
 */
export function remoteNetworkProblems(networkName: string, env: NodeJS.ProcessEnv): string[] {
  if (!isRemoteNetwork(networkName)) return [];
  const problems: string[] = [];
  if (!env.RPC_URL?.trim()) {
    problems.push(`RPC_URL is not set: export RPC_URL=<an HTTPS JSON-RPC endpoint for ${networkName}>`);
  }
  const key = env.DEPLOYER_KEY?.trim();
  if (!key) {
    problems.push("DEPLOYER_KEY is not set: export DEPLOYER_KEY=<the deployer's private key, 64 hex digits>");
  } else if (!PRIVATE_KEY.test(key)) {
    problems.push("DEPLOYER_KEY is not a private key: expected 64 hex digits, optionally prefixed with 0x");
  }
  return problems;
}
