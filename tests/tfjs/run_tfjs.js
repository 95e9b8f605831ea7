// Runs TF.js graph models with tfjs' pure-JS CPU backend: the reference the importer is checked against.
// usage: node run_tfjs.js JOBS_JSON, a list of {model, input, shape, output}: model.json path, raw
// little-endian float32 input (NHWC, `shape`), and where to write the first output as raw float32.
// One process runs every job, as loading tfjs costs most of a second.
// NODE_PATH must name the node_modules holding @tensorflow/tfjs-{core,converter,backend-cpu}.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

async function load(modelPath) {
  // tfjs' own file:// loader lives in tfjs-node (a native binary); fromMemory reads the same files
  const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const weightSpecs = [];
  const shards = [];
  for (const group of model.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(path.dirname(modelPath), p)));
  }
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return converter.loadGraphModel(tf.io.fromMemory({
    modelTopology: model.modelTopology, weightSpecs, weightData,
    userDefinedMetadata: model.userDefinedMetadata, signature: model.signature }));
}

async function main() {
  tf.env().set('PROD', true);   // no "install tfjs-node" banner on stdout
  await tf.setBackend('cpu');
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) {
    const graph = await load(job.model);
    const raw = fs.readFileSync(job.input);
    const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), job.shape, 'float32');
    const y = graph.execute(x);
    const out = Array.isArray(y) ? y[0] : y;
    fs.writeFileSync(job.output, Buffer.from((await out.data()).buffer));
  }
}
main().catch((e) => { process.stderr.write(String(e.stack || e) + '\n'); process.exit(1); });
