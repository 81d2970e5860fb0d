import { expect } from "chai";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

/**
 * Checks that each task is defined with a description worth reading, an optional `--from`, and a description for
 * every parameter (and, with `allOptional`, that every parameter is optional).
 */
export function expectDescribedTasks(hre: HardhatRuntimeEnvironment, names: string[], allOptional = false): void {
  for (const name of names) {
    const definition = hre.tasks[name];
    expect(definition, name).to.not.equal(undefined);
    expect(definition!.description, name).to.have.length.greaterThan(30);
    expect(definition!.paramDefinitions.from?.isOptional, name).to.equal(true);
    for (const param of Object.values(definition!.paramDefinitions)) {
      expect(param.description, `${name} --${param.name}`).to.have.length.greaterThan(10);
      if (allOptional) expect(param.isOptional, `${name} --${param.name}`).to.equal(true);
    }
  }
}
