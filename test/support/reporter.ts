import fs from "node:fs";
import Mocha from "mocha";

const { EVENT_RUN_END } = Mocha.Runner.constants;

/**
 * Mocha's spec output, closed by the line CI recognises (`N passed, N failed`). When TEST_SUMMARY_FILE is set, the
 * counts are also written there as JSON so `.ci/run` can repeat the line after everything else it prints.
 */
class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = this.stats;
      const summary = { passed: passes, failed: failures, pending };
      const file = process.env.TEST_SUMMARY_FILE;
      if (file) fs.writeFileSync(file, JSON.stringify(summary) + "\n");
      // Printed after the spec epilogue, which mocha also writes on EVENT_RUN_END.
      process.nextTick(() => console.log(`${passes} passed, ${failures} failed`));
    });
  }
}

export = SummaryReporter;
