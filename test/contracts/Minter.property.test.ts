import { expect } from "chai";
import { ethers } from "hardhat";
import { id } from "ethers";
import fc from "fast-check";
import { loadFixture, mine } from "@nomicfoundation/hardhat-network-helpers";

import { GENESIS_SUPPLY, ROUND_LENGTH, callAs, suiteWithMockBondingManager } from "../support/fixtures";

const PPB = 1_000_000_000n;
const TARGET = 500_000_000n;

const roundArbitrary = fc.record({
  /** Active stake as a share of supply, in ppb. */
  stakePpb: fc.bigInt({ min: 0n, max: PPB }),
  /** Reward requests this round: numerator/denominator pairs (numerator <= denominator). */
  rewards: fc.array(
    fc
      .tuple(fc.bigInt({ min: 1n, max: 10n ** 6n }), fc.bigInt({ min: 0n, max: 10n ** 6n }))
      .map(([den, n]) => [n % (den + 1n), den] as const),
    { maxLength: 3 },
  ),
  /** A payout request as a share of custody in ppm; above 1e6 asks for more than is held. */
  payoutPpm: fc.bigInt({ min: 0n, max: 1_200_000n }),
});

describe("Minter (property: inflation and custody over random rounds)", () => {
  it("steers inflation one step toward the target, never below zero, and never pays out more than it holds", async () => {
    const [, recipient] = await ethers.getSigners();

    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 0n, max: 3000n }),
        fc.bigInt({ min: 0n, max: 2000n }),
        fc.array(roundArbitrary, { minLength: 1, maxLength: 6 }),
        async (startInflation, step, rounds) => {
          const s = await loadFixture(suiteWithMockBondingManager);
          const minter = await (
            await ethers.getContractFactory("Minter")
          ).deploy(await s.controller.getAddress(), startInflation, step, TARGET);
          await s.controller.setContract(id("Minter"), await minter.getAddress());
          const custodian = await minter.getAddress();

          let inflation = startInflation;
          let custody = 0n;
          let totalMinted = 0n;
          for (const round of rounds) {
            await mine(ROUND_LENGTH);
            const supply = await s.token.totalSupply();
            await s.bondingManager.setTotalActiveStake((supply * round.stakePpb) / PPB);
            await s.rounds.initializeRound();

            const bondingRate = (((supply * round.stakePpb) / PPB) * PPB) / supply;
            inflation = bondingRate < TARGET ? inflation + step : inflation > step ? inflation - step : 0n;
            expect(await minter.inflation()).to.equal(inflation);
            const mintable = (supply * inflation) / PPB;
            expect(await minter.currentMintableTokens()).to.equal(mintable);

            let minted = 0n;
            for (const [numerator, denominator] of round.rewards) {
              const wanted = (mintable * numerator) / denominator;
              const expected = wanted < mintable - minted ? wanted : mintable - minted;
              await callAs(s.bondingManager, minter, "createReward", [numerator, denominator]);
              minted += expected;
              expect(await minter.currentMintedTokens()).to.equal(minted);
            }
            // The contract's own books, not the model's: minted never exceeds the round's budget.
            expect((await minter.currentMintedTokens()) <= (await minter.currentMintableTokens())).to.equal(true);
            custody += minted;
            totalMinted += minted;

            const request = (custody * round.payoutPpm) / 1_000_000n;
            const payout = callAs(s.bondingManager, minter, "trustedTransferTokens", [recipient.address, request]);
            if (request > custody) {
              await expect(payout).to.be.revertedWithCustomError(s.token, "ERC20InsufficientBalance");
            } else {
              await payout;
              custody -= request;
            }
            expect(await s.token.balanceOf(custodian)).to.equal(custody);
          }
          expect(await s.token.totalSupply()).to.equal(GENESIS_SUPPLY + totalMinted);
        },
      ),
      { numRuns: 25 },
    );
  });
});
