/** Opening the JSON-RPC connection every on-chain daemon starts with, with an error that says what to check. */
import { JsonRpcProvider, type Provider } from "ethers";

export async function connectRpc(rpcUrl: string, given?: Provider): Promise<{ provider: Provider; chainId: bigint }> {
  const provider = given ?? new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: false });
  try {
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
