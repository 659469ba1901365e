/** The reference engine against the shared property suite (generated command streams). */
import { ReferenceEngine } from '../engines/reference.ts';
import { describeEngineProperties } from './contract/engine-properties.ts';

describeEngineProperties('reference', (rules) => new ReferenceEngine(rules));
