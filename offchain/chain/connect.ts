/** Opening the JSON-RPC connection every on-chain daemon starts with, with an error that says what to check. */
import { FetchRequest, JsonRpcProvider, type Provider } from "ethers";

/**
 * Each JSON-RPC request gives up after this (ethers' default is 5 minutes): a node that accepts connections but never
 * answers must show up as an error (in /healthz, in the redeemer's retries) rather than as a daemon that waits.
 */
export const RPC_TIMEOUT_MS = 15_000;

export async function connectRpc(
  rpcUrl: string,
  given?: Provider,
  timeoutMs = RPC_TIMEOUT_MS,
): Promise<{ provider: Provider; chainId: bigint }> {
  let provider = given;
  if (!provider) {
    const request = new FetchRequest(rpcUrl);
    request.timeout = timeoutMs;
    provider = new JsonRpcProvider(request, undefined, { staticNetwork: false });
  }
  try {
    // ethers retries a refused connection for ever: the start-up gives up after 10 s with an error instead.
    const network = await Promise.race([
      provider.getNetwork(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer within 10 s")), 10_000).unref()),
    ]);
    return { provider, chainId: network.chainId };
  } catch (error) {
    provider.destroy();
    throw new Error(`Cannot reach the chain at ${rpcUrl}: ${(error as Error).message}. Is the node running?`);
  }
}
