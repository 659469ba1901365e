/** The reference engine against the shared engine contract. */
import { ReferenceEngine } from '../engines/reference.ts';
import { describeEngineContract } from './contract/engine-contract.ts';

describeEngineContract('reference', (rules) => new ReferenceEngine(rules));
