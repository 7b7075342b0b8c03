// Jest loads global setup outside its module system; tsx lets it import the TypeScript sources.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { default: setup } = await tsImport('./global-setup.impl.ts', import.meta.url);
  await setup();
}
