import { describe } from "./lib/describe.mjs";

export const handler = async (event) => {
  for (const record of event.Records) {
    console.log(describe(record));
  }
};
