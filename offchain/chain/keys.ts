/**
 * The daemon's signing key: an encrypted JSON keystore (password from a file or the environment), or, on local
 * chains only, a raw private key or one of the development node's well-known accounts. Keys are never logged.
 */
import fs from "node:fs";

import { HDNodeWallet, Mnemonic, Wallet } from "ethers";

/** Chain ids of local development chains (Hardhat, Ganache/Anvil). */
export const LOCAL_CHAIN_IDS = new Set([31337n, 1337n]);

/** The mnemonic every `hardhat node` (and Anvil) funds its accounts from: public, so local chains only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

export interface KeyOptions {
  keystore?: string;
  keystorePasswordFile?: string;
  privateKeyFile?: string;
  /** Index of a `hardhat node` account. */
  devAccount?: number;
}

function readSecretFile(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new Error(`Cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

export async function loadWallet(options: KeyOptions, chainId: bigint, env = process.env): Promise<Wallet> {
  const given = [options.keystore, options.privateKeyFile ?? env.STREAMFLOW_PRIVATE_KEY, options.devAccount].filter(
    (v) => v !== undefined,
  );
  if (given.length === 0) {
    throw new Error(
      "A key is required: --keystore FILE (with --keystore-password-file or STREAMFLOW_KEYSTORE_PASSWORD); on a " +
        "local chain also --private-key-file FILE, STREAMFLOW_PRIVATE_KEY or --dev-account N.",
    );
  }
  if (given.length > 1)
    throw new Error("Give one key: --keystore, --private-key-file/STREAMFLOW_PRIVATE_KEY or --dev-account.");
  if (options.keystore) {
    const json = readSecretFile(options.keystore, "--keystore");
    const password = options.keystorePasswordFile
      ? readSecretFile(options.keystorePasswordFile, "--keystore-password-file")
      : env.STREAMFLOW_KEYSTORE_PASSWORD;
    if (password === undefined) {
      throw new Error(
        "The keystore's password is required: --keystore-password-file FILE or STREAMFLOW_KEYSTORE_PASSWORD.",
      );
    }
    try {
      const wallet = await Wallet.fromEncryptedJson(json, password);
      return new Wallet(wallet.privateKey);
    } catch (error) {
      throw new Error(`Cannot open the keystore ${options.keystore}: ${(error as Error).message} (wrong password?)`);
    }
  }
  if (!LOCAL_CHAIN_IDS.has(chainId)) {
    throw new Error(
      `Chain ${chainId} is not a local development chain: raw private keys and development accounts are refused ` +
        "there. Use --keystore.",
    );
  }
  if (options.devAccount !== undefined) {
    const node = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${options.devAccount}`);
    return new Wallet(node.privateKey);
  }
  const key = options.privateKeyFile
    ? readSecretFile(options.privateKeyFile, "--private-key-file")
    : env.STREAMFLOW_PRIVATE_KEY!;
  const normalized = key.startsWith("0x") ? key : `0x${key}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(normalized)) throw new Error("The private key must be 32 bytes of hex.");
  return new Wallet(normalized);
}
