<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>AnswersView</name>
    <message>
      <source>A prompt every ticked run answers (greedy)</source>
      <translation>每个勾选的运行都回答的提示词（贪心解码）</translation>
    </message>
    <message>
      <source>Answer</source>
      <translation>回答</translation>
    </message>
    <message>
      <source>Answering…</source>
      <translation>正在回答…</translation>
    </message>
    <message>
      <source>Run</source>
      <translation>运行</translation>
    </message>
  </context>
  <context>
    <name>App</name>
    <message>
      <source>Cannot open {path}: not a dataset file or a run folder</source>
      <translation>无法打开 {path}：它既不是数据集文件，也不是运行文件夹</translation>
    </message>
    <message>
      <source>Chat</source>
      <translation>对话</translation>
    </message>
    <message>
      <source>Data</source>
      <translation>数据</translation>
    </message>
    <message>
      <source>Dataset: {path}</source>
      <translation>数据集：{path}</translation>
    </message>
    <message>
      <source>Experiments</source>
      <translation>实验</translation>
    </message>
    <message>
      <source>Export</source>
      <translation>导出</translation>
    </message>
    <message>
      <source>Inspect</source>
      <translation>透视模型</translation>
    </message>
    <message>
      <source>Model and method</source>
      <translation>模型与方法</translation>
    </message>
    <message>
      <source>Train</source>
      <translation>训练</translation>
    </message>
    <message>
      <source>Welcome</source>
      <translation>欢迎</translation>
    </message>
  </context>
  <context>
    <name>AttentionView</name>
    <message>
      <source>All heads (layers x heads)</source>
      <translation>全部注意力头（层 × 头）</translation>
    </message>
    <message>
      <source>Base</source>
      <translation>基座</translation>
    </message>
    <message>
      <source>Choose a model and type a text.</source>
      <translation>请选择模型并输入一段文本。</translation>
    </message>
    <message>
      <source>Choose a model first.</source>
      <translation>请先选择模型。</translation>
    </message>
    <message>
      <source>Compare with base</source>
      <translation>与基座模型比较</translation>
    </message>
    <message>
      <source>Computing attention with {model}…</source>
      <translation>正在用 {model} 计算注意力…</translation>
    </message>
    <message>
      <source>Could not capture attention: {reason}</source>
      <translation>无法获取注意力：{reason}</translation>
    </message>
    <message>
      <source>Difference (tuned - base)</source>
      <translation>差异（微调后 − 基座）</translation>
    </message>
    <message>
      <source>Entropy per layer</source>
      <translation>每层熵</translation>
    </message>
    <message>
      <source>Every layer (rows) and head (columns); each tile scaled to its own maximum. Click a tile to open that head.</source>
      <translation>所有层（行）和注意力头（列）；每个小图按自身最大值缩放。点击小图可打开该注意力头。</translation>
    </message>
    <message>
      <source>Head</source>
      <translation>头</translation>
    </message>
    <message>
      <source>How spread out each layer's attention is, once a text is shown.</source>
      <translation>显示文本后，这里是每一层注意力的分散程度。</translation>
    </message>
    <message>
      <source>Layer</source>
      <translation>层</translation>
    </message>
    <message>
      <source>Layer {layer}, head {head}</source>
      <translation>第 {layer} 层，第 {head} 头</translation>
    </message>
    <message>
      <source>Layer {layer}, max over heads</source>
      <translation>第 {layer} 层，各头最大值</translation>
    </message>
    <message>
      <source>Layer {layer}, mean over heads</source>
      <translation>第 {layer} 层，各头平均值</translation>
    </message>
    <message>
      <source>Map</source>
      <translation>图</translation>
    </message>
    <message>
      <source>Max over heads</source>
      <translation>各头最大值</translation>
    </message>
    <message>
      <source>Mean over heads</source>
      <translation>各头平均值</translation>
    </message>
    <message>
      <source>One head</source>
      <translation>单个注意力头</translation>
    </message>
    <message>
      <source>Run the same text through the base model too and show what tuning changed</source>
      <translation>同一段文本也送入基座模型，显示微调改变了什么</translation>
    </message>
    <message>
      <source>Show attention</source>
      <translation>显示注意力</translation>
    </message>
    <message>
      <source>The chosen head: row = the token that looks, column = the token it looks at; brighter = more attention.</source>
      <translation>选中的注意力头：行是“看”的词元，列是被看的词元；越亮表示注意力越多。</translation>
    </message>
    <message>
      <source>The text was cut to its first {n} tokens.</source>
      <translation>文本已截断为前 {n} 个词元。</translation>
    </message>
    <message>
      <source>Token</source>
      <translation>词元</translation>
    </message>
    <message>
      <source>Token lines</source>
      <translation>词元连线</translation>
    </message>
    <message>
      <source>Tuned</source>
      <translation>微调后</translation>
    </message>
    <message>
      <source>Type a sentence above and press Show attention: every layer and head of the model appears here; click one to open it.</source>
      <translation>在上方输入一句话并点击“显示注意力”：模型每一层、每个头都会显示在这里；点击其中一个即可打开。</translation>
    </message>
    <message>
      <source>Type a sentence to see where each token looks</source>
      <translation>输入一句话，看看每个词元关注哪里</translation>
    </message>
    <message>
      <source>Type some text first.</source>
      <translation>请先输入文本。</translation>
    </message>
    <message>
      <source>attends to</source>
      <translation>关注</translation>
    </message>
    <message>
      <source>bidirectional: each token sees every token</source>
      <translation>双向：每个词元都能看到所有词元</translation>
    </message>
    <message>
      <source>causal: each token sees only earlier ones</source>
      <translation>因果：每个词元只能看到它之前的词元</translation>
    </message>
    <message>
      <source>entropy (bits)</source>
      <translation>熵（比特）</translation>
    </message>
    <message>
      <source>is attended by</source>
      <translation>被关注</translation>
    </message>
    <message>
      <source>layer</source>
      <translation>层</translation>
    </message>
    <message>
      <source>mean</source>
      <translation>平均</translation>
    </message>
    <message>
      <source>{model}: {layers} layers x {heads} heads, {t} tokens ({kind}).</source>
      <translation>{model}：{layers} 层 × {heads} 头，{t} 个词元（{kind}）。</translation>
    </message>
  </context>
  <context>
    <name>ChangesView</name>
    <message>
      <source>Checkpoint:</source>
      <translation>检查点：</translation>
    </message>
    <message>
      <source>Choose a run (a trained adapter or model) above.</source>
      <translation>请在上方选择一次训练（训练好的适配器或模型）。</translation>
    </message>
    <message>
      <source>Computing…</source>
      <translation>正在计算…</translation>
    </message>
    <message>
      <source>Show</source>
      <translation>显示</translation>
    </message>
    <message>
      <source>direction (singular value index)</source>
      <translation>方向（奇异值序号）</translation>
    </message>
    <message>
      <source>effective rank (dashed: r = {r})</source>
      <translation>有效秩（虚线：r = {r}）</translation>
    </message>
    <message>
      <source>final</source>
      <translation>最终</translation>
    </message>
    <message>
      <source>singular value / largest</source>
      <translation>奇异值 / 最大值</translation>
    </message>
    <message>
      <source>step {n}</source>
      <translation>第 {n} 步</translation>
    </message>
    <message>
      <source>weight change, % of its norm</source>
      <translation>权重变化，占其范数的百分比</translation>
    </message>
  </context>
  <context>
    <name>ChatPanel</name>
    <message>
      <source>0 = greedy: always the most likely token (the same reply every time)</source>
      <translation>0 = 贪心：总是选最可能的词元（每次回复相同）</translation>
    </message>
    <message>
      <source>A fixed seed gives the same reply every time</source>
      <translation>固定种子时每次得到相同的回复</translation>
    </message>
    <message>
      <source>Above 1 makes repeating a token less likely (1 = off)</source>
      <translation>大于 1 时降低重复词元的概率（1 = 关闭）</translation>
    </message>
    <message>
      <source>Ask something… (Ctrl+Enter sends)</source>
      <translation>问点什么…（Ctrl+Enter 发送）</translation>
    </message>
    <message>
      <source>Base</source>
      <translation>基座</translation>
    </message>
    <message>
      <source>Base and tuned share one copy of the weights (the adapter is switched off for the base answer).</source>
      <translation>基础模型与微调模型共用同一份权重（回答基础模型的问题时关闭适配器）。</translation>
    </message>
    <message>
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Before {stage}: the reference (base) model</source>
      <translation>{stage} 之前：参考（基础）模型</translation>
    </message>
    <message>
      <source>Colour each token by how likely the model found it (green: sure, red: unlikely); hover a token for the alternatives</source>
      <translation>按模型给出的概率为每个词元着色（绿色：很确定，红色：不太可能）；鼠标悬停可查看其他候选</translation>
    </message>
    <message>
      <source>Downloading: {message}{pct}. Stop cancels; loading it again resumes.</source>
      <translation>正在下载：{message}{pct}。“停止”可取消，再次加载会从断点继续。</translation>
    </message>
    <message>
      <source>Export the loaded run as an adapter or a merged model</source>
      <translation>把已加载的运行导出为适配器或合并后的模型</translation>
    </message>
    <message>
      <source>Export…</source>
      <translation>导出…</translation>
    </message>
    <message>
      <source>Generation</source>
      <translation>生成</translation>
    </message>
    <message>
      <source>Loaded {label}.</source>
      <translation>已加载 {label}。</translation>
    </message>
    <message>
      <source>Loading {what}…</source>
      <translation>正在加载 {what}…</translation>
    </message>
    <message>
      <source>Max new tokens</source>
      <translation>最多新词元数</translation>
    </message>
    <message>
      <source>New chat</source>
      <translation>新对话</translation>
    </message>
    <message>
      <source>Nothing loaded yet.</source>
      <translation>尚未加载任何模型。</translation>
    </message>
    <message>
      <source>Repetition penalty</source>
      <translation>重复惩罚</translation>
    </message>
    <message>
      <source>Sample only from the k most likely tokens (0 = off)</source>
      <translation>只从最可能的 k 个词元中采样（0 = 关闭）</translation>
    </message>
    <message>
      <source>Sample only from the most likely tokens that together reach this probability</source>
      <translation>只从累计概率达到该值的最可能词元中采样</translation>
    </message>
    <message>
      <source>Seed</source>
      <translation>随机种子</translation>
    </message>
    <message>
      <source>Send</source>
      <translation>发送</translation>
    </message>
    <message>
      <source>Show token probabilities</source>
      <translation>显示词元概率</translation>
    </message>
    <message>
      <source>Side by side with the base model</source>
      <translation>与基础模型并排对比</translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>停止</translation>
    </message>
    <message>
      <source>System prompt (optional)</source>
      <translation>系统提示词（可选）</translation>
    </message>
    <message>
      <source>Temperature</source>
      <translation>温度</translation>
    </message>
    <message>
      <source>The reply stops here if the model has not ended its turn</source>
      <translation>如果模型还没结束本轮回复，就在这里停止</translation>
    </message>
    <message>
      <source>This method changed the weights themselves: the base model is a second copy in memory.</source>
      <translation>该方法直接修改了权重本身：基础模型在内存中是第二份副本。</translation>
    </message>
    <message>
      <source>Top-k</source>
      <translation>Top-k</translation>
    </message>
    <message>
      <source>Top-p</source>
      <translation>Top-p</translation>
    </message>
    <message>
      <source>Tuned</source>
      <translation>微调后</translation>
    </message>
    <message>
      <source>Tuned model</source>
      <translation>微调后的模型</translation>
    </message>
    <message>
      <source>Tuned: {label}</source>
      <translation>微调：{label}</translation>
    </message>
    <message>
      <source>You</source>
      <translation>你</translation>
    </message>
    <message>
      <source>ended its turn</source>
      <translation>已结束本轮</translation>
    </message>
    <message>
      <source>random</source>
      <translation>随机</translation>
    </message>
    <message>
      <source>stopped</source>
      <translation>已停止</translation>
    </message>
    <message>
      <source>stopped at the token limit</source>
      <translation>达到词元上限而停止</translation>
    </message>
    <message>
      <source>{tokens} tokens · {speed:.1f} tokens/s · first token after {ms:.0f} ms · {ending}</source>
      <translation>{tokens} 个词元 · {speed:.1f} 词元/秒 · 首个词元用时 {ms:.0f} 毫秒 · {ending}</translation>
    </message>
  </context>
  <context>
    <name>ChatSourcePicker</name>
    <message>
      <source>(whole folder)</source>
      <translation>（整个文件夹）</translation>
    </message>
    <message>
      <source>A run (its adapter on its base model), a model folder or an adapter folder</source>
      <translation>一次运行（其适配器加在基础模型上）、一个模型文件夹或一个适配器文件夹</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Chat with:</source>
      <translation>对话对象：</translation>
    </message>
    <message>
      <source>Choose a run, model or adapter folder</source>
      <translation>选择运行、模型或适配器文件夹</translation>
    </message>
    <message>
      <source>Load</source>
      <translation>加载</translation>
    </message>
    <message>
      <source>Pick a run or a model first (Browse… adds a folder).</source>
      <translation>请先选择一次运行或一个模型（“浏览…”可添加文件夹）。</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>刷新</translation>
    </message>
    <message>
      <source>The run's final weights or one of its checkpoints (or click a checkpoint on the loss curve)</source>
      <translation>运行的最终权重或其中一个检查点（也可以在损失曲线上点击检查点）</translation>
    </message>
    <message>
      <source>final</source>
      <translation>最终</translation>
    </message>
    <message>
      <source>loss</source>
      <translation>损失</translation>
    </message>
    <message>
      <source>or a hub id, e.g. Qwen/Qwen2.5-0.5B-Instruct</source>
      <translation>或输入模型仓库 ID，例如 Qwen/Qwen2.5-0.5B-Instruct</translation>
    </message>
    <message>
      <source>step (click a red checkpoint to chat with it)</source>
      <translation>步数（点击红色检查点即可与之对话）</translation>
    </message>
    <message>
      <source>step {n}</source>
      <translation>第 {n} 步</translation>
    </message>
    <message>
      <source>{name} is not a run, model or adapter folder</source>
      <translation>{name} 不是运行、模型或适配器文件夹</translation>
    </message>
  </context>
  <context>
    <name>ChecklistView</name>
    <message>
      <source>A figure, not a verdict: a quantized file answers a little differently by design.</source>
      <translation>这是一个数值，不是判定：量化后的文件本来就会给出略有不同的回答。</translation>
    </message>
    <message>
      <source>Check</source>
      <translation>检查项</translation>
    </message>
    <message>
      <source>Result</source>
      <translation>结果</translation>
    </message>
  </context>
  <context>
    <name>CompareMethodsDialog</name>
    <message>
      <source>Compare methods</source>
      <translation>比较方法</translation>
    </message>
    <message>
      <source>Train &lt;b&gt;{model}&lt;/b&gt; on &lt;b&gt;{data}&lt;/b&gt; for {steps} steps with each method you tick, one after another; the board then shows what each cost and gave.</source>
      <translation>用勾选的每种方法依次在 &lt;b&gt;{data}&lt;/b&gt; 上训练 &lt;b&gt;{model}&lt;/b&gt; {steps} 步；比较面板随后显示每种方法的代价与收获。</translation>
    </message>
    <message>
      <source>{e} epochs</source>
      <translation>{e} 轮</translation>
    </message>
  </context>
  <context>
    <name>ComparisonBoard</name>
    <message>
      <source>&lt;b&gt;Runs&lt;/b&gt;: tick the ones to compare</source>
      <translation>&lt;b&gt;运行&lt;/b&gt;：勾选要比较的运行</translation>
    </message>
    <message>
      <source>Answers</source>
      <translation>回答</translation>
    </message>
    <message>
      <source>Chart:</source>
      <translation>图表：</translation>
    </message>
    <message>
      <source>Choose a model and a dataset first: {reason}</source>
      <translation>请先选择模型和数据集：{reason}</translation>
    </message>
    <message>
      <source>Compare methods…</source>
      <translation>比较方法…</translation>
    </message>
    <message>
      <source>Could not write {path}</source>
      <translation>无法写入 {path}</translation>
    </message>
    <message>
      <source>Could not write {path}: {why}</source>
      <translation>无法写入 {path}：{why}</translation>
    </message>
    <message>
      <source>Curves</source>
      <translation>曲线</translation>
    </message>
    <message>
      <source>Export CSV…</source>
      <translation>导出 CSV…</translation>
    </message>
    <message>
      <source>Export Markdown…</source>
      <translation>导出 Markdown…</translation>
    </message>
    <message>
      <source>Export the table</source>
      <translation>导出表格</translation>
    </message>
    <message>
      <source>Queue the same data and budget with each method you tick.</source>
      <translation>用相同的数据和训练预算，为勾选的每种方法各排一个运行。</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>刷新</translation>
    </message>
    <message>
      <source>Save chart…</source>
      <translation>保存图表…</translation>
    </message>
    <message>
      <source>Save the chart</source>
      <translation>保存图表</translation>
    </message>
    <message>
      <source>The chart as a PNG image.</source>
      <translation>把图表保存为 PNG 图片。</translation>
    </message>
    <message>
      <source>Tick runs on the left, or a whole sweep, to compare them.</source>
      <translation>在左侧勾选运行（或整个扫描文件夹）来比较它们。</translation>
    </message>
    <message>
      <source>eval loss</source>
      <translation>验证损失</translation>
    </message>
    <message>
      <source>memory (MB)</source>
      <translation>内存（MB）</translation>
    </message>
    <message>
      <source>step</source>
      <translation>步</translation>
    </message>
    <message>
      <source>tokens/s</source>
      <translation>token/秒</translation>
    </message>
    <message>
      <source>train loss</source>
      <translation>训练损失</translation>
    </message>
    <message>
      <source>{n} runs</source>
      <translation>{n} 个运行</translation>
    </message>
    <message>
      <source>{n} runs, all finished. Lowest eval loss: &lt;b&gt;{best}&lt;/b&gt; ({loss:.4f}); least memory: &lt;b&gt;{cheap}&lt;/b&gt; ({mb:.0f} MB). Click a column to sort.</source>
      <translation>共 {n} 个运行，全部已完成。验证损失最低：&lt;b&gt;{best}&lt;/b&gt;（{loss:.4f}）；内存最少：&lt;b&gt;{cheap}&lt;/b&gt;（{mb:.0f} MB）。点击列标题可排序。</translation>
    </message>
    <message>
      <source>{n} runs. Lowest eval loss: &lt;b&gt;{best}&lt;/b&gt; ({loss:.4f}); least memory: &lt;b&gt;{cheap}&lt;/b&gt; ({mb:.0f} MB). Click a column to sort.</source>
      <translation>共 {n} 个运行。验证损失最低：&lt;b&gt;{best}&lt;/b&gt;（{loss:.4f}）；内存最少：&lt;b&gt;{cheap}&lt;/b&gt;（{mb:.0f} MB）。点击列标题可排序。</translation>
    </message>
  </context>
  <context>
    <name>CompletionsView</name>
    <message>
      <source>A grpo run shows each step's group of completions here.</source>
      <translation>grpo 运行时，这里显示每一步的一组补全。</translation>
    </message>
    <message>
      <source>Advantage</source>
      <translation>优势</translation>
    </message>
    <message>
      <source>Completion</source>
      <translation>补全</translation>
    </message>
    <message>
      <source>Reference answer: {answer}</source>
      <translation>参考答案：{answer}</translation>
    </message>
    <message>
      <source>Step {step}, row {row}: {prompt}</source>
      <translation>第 {step} 步，第 {row} 行：{prompt}</translation>
    </message>
    <message>
      <source>Total</source>
      <translation>总分</translation>
    </message>
  </context>
  <context>
    <name>ConfigForm</name>
    <message>
      <source>Allow pickle weights</source>
      <translation>允许 pickle 权重</translation>
    </message>
    <message>
      <source>Also log to</source>
      <translation>同时记录到</translation>
    </message>
    <message>
      <source>Answer pattern</source>
      <translation>答案正则</translation>
    </message>
    <message>
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Batch size</source>
      <translation>批大小</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Checkpoint every N steps</source>
      <translation>每 N 步保存检查点</translation>
    </message>
    <message>
      <source>Checkpoints kept</source>
      <translation>保留的检查点数</translation>
    </message>
    <message>
      <source>Clip range</source>
      <translation>裁剪范围</translation>
    </message>
    <message>
      <source>Data</source>
      <translation>数据</translation>
    </message>
    <message>
      <source>Dataset file</source>
      <translation>数据集文件</translation>
    </message>
    <message>
      <source>Datasets</source>
      <translation>数据集</translation>
    </message>
    <message>
      <source>Device</source>
      <translation>设备</translation>
    </message>
    <message>
      <source>Epochs</source>
      <translation>训练轮数</translation>
    </message>
    <message>
      <source>Eval every N steps</source>
      <translation>每 N 步评估</translation>
    </message>
    <message>
      <source>Eval share</source>
      <translation>评估集比例</translation>
    </message>
    <message>
      <source>Evaluate at checkpoints</source>
      <translation>检查点评估</translation>
    </message>
    <message>
      <source>Evaluation metric</source>
      <translation>评估指标</translation>
    </message>
    <message>
      <source>Field mapping</source>
      <translation>字段映射</translation>
    </message>
    <message>
      <source>Format</source>
      <translation>格式</translation>
    </message>
    <message>
      <source>Format pattern</source>
      <translation>格式正则</translation>
    </message>
    <message>
      <source>Gradient accumulation</source>
      <translation>梯度累积</translation>
    </message>
    <message>
      <source>Gradient checkpointing</source>
      <translation>梯度检查点</translation>
    </message>
    <message>
      <source>Group size (GRPO)</source>
      <translation>组大小（GRPO）</translation>
    </message>
    <message>
      <source>KL weight (GRPO)</source>
      <translation>KL 权重（GRPO）</translation>
    </message>
    <message>
      <source>LR schedule</source>
      <translation>学习率调度</translation>
    </message>
    <message>
      <source>Label smoothing</source>
      <translation>标签平滑</translation>
    </message>
    <message>
      <source>Learning rate</source>
      <translation>学习率</translation>
    </message>
    <message>
      <source>LoRA alpha</source>
      <translation>LoRA alpha</translation>
    </message>
    <message>
      <source>LoRA dropout</source>
      <translation>LoRA dropout</translation>
    </message>
    <message>
      <source>LoRA rank r</source>
      <translation>LoRA 秩 r</translation>
    </message>
    <message>
      <source>Log every N steps</source>
      <translation>每 N 步记录</translation>
    </message>
    <message>
      <source>Log the rows of each step</source>
      <translation>记录每步用到的行</translation>
    </message>
    <message>
      <source>Loss on prompt too</source>
      <translation>提示词也计算损失</translation>
    </message>
    <message>
      <source>MLflow experiment</source>
      <translation>MLflow 实验</translation>
    </message>
    <message>
      <source>MLflow tracking URI</source>
      <translation>MLflow 跟踪地址（URI）</translation>
    </message>
    <message>
      <source>Max completion tokens</source>
      <translation>补全最大 token 数</translation>
    </message>
    <message>
      <source>Max gradient norm</source>
      <translation>最大梯度范数</translation>
    </message>
    <message>
      <source>Max length (tokens)</source>
      <translation>最大长度（token）</translation>
    </message>
    <message>
      <source>Max steps</source>
      <translation>最大步数</translation>
    </message>
    <message>
      <source>Method</source>
      <translation>方法</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Optimizer</source>
      <translation>优化器</translation>
    </message>
    <message>
      <source>Output</source>
      <translation>输出</translation>
    </message>
    <message>
      <source>Overwrite</source>
      <translation>覆盖</translation>
    </message>
    <message>
      <source>Packing</source>
      <translation>样本打包</translation>
    </message>
    <message>
      <source>Precision</source>
      <translation>精度</translation>
    </message>
    <message>
      <source>Preference beta</source>
      <translation>偏好 beta</translation>
    </message>
    <message>
      <source>Preference loss</source>
      <translation>偏好损失</translation>
    </message>
    <message>
      <source>Processes</source>
      <translation>进程数</translation>
    </message>
    <message>
      <source>Python files</source>
      <translation>Python 文件</translation>
    </message>
    <message>
      <source>Reward file (Python)</source>
      <translation>奖励文件（Python）</translation>
    </message>
    <message>
      <source>Rewards and weights</source>
      <translation>奖励及权重</translation>
    </message>
    <message>
      <source>Run folder</source>
      <translation>运行文件夹</translation>
    </message>
    <message>
      <source>SFT term weight</source>
      <translation>SFT 项权重</translation>
    </message>
    <message>
      <source>Sampling temperature</source>
      <translation>采样温度</translation>
    </message>
    <message>
      <source>Seed</source>
      <translation>随机种子</translation>
    </message>
    <message>
      <source>SimPO gamma</source>
      <translation>SimPO gamma</translation>
    </message>
    <message>
      <source>Skip bad rows</source>
      <translation>跳过有问题的行</translation>
    </message>
    <message>
      <source>Stage</source>
      <translation>阶段</translation>
    </message>
    <message>
      <source>Strategy</source>
      <translation>并行策略</translation>
    </message>
    <message>
      <source>Target modules</source>
      <translation>目标模块</translation>
    </message>
    <message>
      <source>Trainable last layers</source>
      <translation>可训练的最后几层</translation>
    </message>
    <message>
      <source>Training</source>
      <translation>训练</translation>
    </message>
    <message>
      <source>Trust remote code</source>
      <translation>信任远程代码</translation>
    </message>
    <message>
      <source>Trusted reward file sha256</source>
      <translation>已信任奖励文件的 sha256</translation>
    </message>
    <message>
      <source>Updates per batch</source>
      <translation>每批更新次数</translation>
    </message>
    <message>
      <source>Virtual tokens</source>
      <translation>虚拟 token 数</translation>
    </message>
    <message>
      <source>Warm-up share</source>
      <translation>预热比例</translation>
    </message>
    <message>
      <source>Weight decay</source>
      <translation>权重衰减</translation>
    </message>
    <message>
      <source>Which GPUs</source>
      <translation>使用哪些 GPU</translation>
    </message>
    <message>
      <source>config key</source>
      <translation>配置键</translation>
    </message>
    <message>
      <source>default</source>
      <translation>默认值</translation>
    </message>
    <message>
      <source>not set</source>
      <translation>未设置</translation>
    </message>
  </context>
  <context>
    <name>DataPanel</name>
    <message>
      <source>All rows</source>
      <translation>全部行</translation>
    </message>
    <message>
      <source>Checking rows…</source>
      <translation>正在检查各行…</translation>
    </message>
    <message>
      <source>Choose a model on the Model page: its tokenizer measures every row against max_length.</source>
      <translation>请在“模型与方法”页选择模型：用它的分词器测量每行长度并与 max_length 比较。</translation>
    </message>
    <message>
      <source>Click a problem to show its row.</source>
      <translation>点击某个问题即可跳到对应的行。</translation>
    </message>
    <message>
      <source>Dataset doctor</source>
      <translation>数据集体检</translation>
    </message>
    <message>
      <source>Datasets</source>
      <translation>数据集</translation>
    </message>
    <message>
      <source>Every row can be trained on.</source>
      <translation>所有行都可以用于训练。</translation>
    </message>
    <message>
      <source>Fields Studio does not read for this format; they are ignored in training.</source>
      <translation>此格式下 Studio 不读取的字段；训练时会被忽略。</translation>
    </message>
    <message>
      <source>Format</source>
      <translation>格式</translation>
    </message>
    <message>
      <source>Good rows</source>
      <translation>可用行</translation>
    </message>
    <message>
      <source>How to read the rows; auto-detect looks at the first rows' fields.</source>
      <translation>如何读取各行；自动检测会查看前几行的字段。</translation>
    </message>
    <message>
      <source>Loading the tokenizer of {name}…</source>
      <translation>正在加载 {name} 的分词器…</translation>
    </message>
    <message>
      <source>Loading the tokenizer…</source>
      <translation>正在加载分词器…</translation>
    </message>
    <message>
      <source>Longest sample in tokens; longer ones are truncated (config key max_length).</source>
      <translation>样本的最大 token 数；更长的会被截断（配置项 max_length）。</translation>
    </message>
    <message>
      <source>Max length</source>
      <translation>最大长度</translation>
    </message>
    <message>
      <source>Measuring token lengths…</source>
      <translation>正在测量 token 长度…</translation>
    </message>
    <message>
      <source>Media rows</source>
      <translation>多媒体行</translation>
    </message>
    <message>
      <source>No dataset yet: drop a .json, .jsonl, .csv, .parquet or .txt file anywhere on this window.</source>
      <translation>还没有数据集：把 .json、.jsonl、.csv、.parquet 或 .txt 文件拖到窗口任意位置即可。</translation>
    </message>
    <message>
      <source>No row can be trained on; the problems below say why.</source>
      <translation>没有可训练的行；原因见下方问题列表。</translation>
    </message>
    <message>
      <source>Off: training refuses a file with bad rows, naming them (config key skip_bad_rows).</source>
      <translation>关闭时：含有坏行的文件会被拒绝训练，并列出这些行（配置项 skip_bad_rows）。</translation>
    </message>
    <message>
      <source>Open a dataset</source>
      <translation>打开数据集</translation>
    </message>
    <message>
      <source>Open dataset…</source>
      <translation>打开数据集…</translation>
    </message>
    <message>
      <source>Preview: the row as the model sees it</source>
      <translation>预览：模型看到的这一行</translation>
    </message>
    <message>
      <source>Reading the file…</source>
      <translation>正在读取文件…</translation>
    </message>
    <message>
      <source>Rows</source>
      <translation>行数</translation>
    </message>
    <message>
      <source>Select a row to see it here.</source>
      <translation>选择一行，在这里查看。</translation>
    </message>
    <message>
      <source>The model's tokenizer cannot be used: {reason}</source>
      <translation>无法使用该模型的分词器：{reason}</translation>
    </message>
    <message>
      <source>This file cannot be read; see the reason on the left.</source>
      <translation>无法读取此文件；原因见左侧。</translation>
    </message>
    <message>
      <source>This file holds preference pairs (chosen / rejected), or replies labelled good / bad: train it with stage dpo (pairs) or kto. The preview shows the chosen reply; the rejected one is trained against it.</source>
      <translation>此文件包含偏好对（chosen / rejected）或标注为好 / 坏的回答：请用 stage dpo（偏好对）或 kto 训练。预览显示被选中的回答；被拒绝的回答在训练中与之对比。</translation>
    </message>
    <message>
      <source>Token lengths</source>
      <translation>Token 长度</translation>
    </message>
    <message>
      <source>Train on the good rows, skip the bad ones</source>
      <translation>用可用行训练，跳过坏行</translation>
    </message>
    <message>
      <source>Unknown fields</source>
      <translation>未知字段</translation>
    </message>
    <message>
      <source>auto-detect</source>
      <translation>自动检测</translation>
    </message>
    <message>
      <source>none</source>
      <translation>无</translation>
    </message>
    <message>
      <source>nothing fits</source>
      <translation>无法识别</translation>
    </message>
    <message>
      <source>row {row}: {reason}</source>
      <translation>第 {row} 行：{reason}</translation>
    </message>
    <message>
      <source>{bad} of {total} rows cannot be trained on. Training refuses the file unless bad rows are skipped; fix them or tick the box below.</source>
      <translation>{total} 行中有 {bad} 行无法训练。除非跳过坏行，否则训练会拒绝此文件；请修正这些行或勾选下方选项。</translation>
    </message>
    <message>
      <source>{fmt} (chosen; detected: {detected}), {kind} file</source>
      <translation>{fmt}（手动选择；检测结果：{detected}），{kind} 文件</translation>
    </message>
    <message>
      <source>{fmt} (detected), {kind} file</source>
      <translation>{fmt}（自动检测），{kind} 文件</translation>
    </message>
    <message>
      <source>{fmt} through the field mapping, {kind} file</source>
      <translation>{fmt}（通过字段映射），{kind} 文件</translation>
    </message>
    <message>
      <source>{good} ({bad} with problems)</source>
      <translation>{good}（{bad} 行有问题）</translation>
    </message>
    <message>
      <source>{n} (rows {rows}): image/audio/video input is not trained</source>
      <translation>{n}（第 {rows} 行）：图像/音频/视频输入不参与训练</translation>
    </message>
    <message>
      <source>… and {n} more</source>
      <translation>… 另有 {n} 条</translation>
    </message>
  </context>
  <context>
    <name>EmbeddingView</name>
    <message>
      <source> (explains {p:.0%} of the variance)</source>
      <translation>（解释了 {p:.0%} 的方差）</translation>
    </message>
    <message>
      <source>2D</source>
      <translation>二维</translation>
    </message>
    <message>
      <source>3D</source>
      <translation>三维</translation>
    </message>
    <message>
      <source>3D needs a display with OpenGL; this window is drawn off-screen.</source>
      <translation>三维视图需要支持 OpenGL 的显示器；当前窗口在屏幕外绘制。</translation>
    </message>
    <message>
      <source>3D needs the PyOpenGL package (pip install 'llm-studio[projection]').</source>
      <translation>三维视图需要 PyOpenGL 包（pip install 'llm-studio[projection]'）。</translation>
    </message>
    <message>
      <source>; mean drift from base {d:.3g}</source>
      <translation>；相对基座的平均漂移 {d:.3g}</translation>
    </message>
    <message>
      <source>A word, or words joined by + and - (spaces around a minus)</source>
      <translation>一个词，或用 + 和 - 连接的多个词（减号两侧需有空格）</translation>
    </message>
    <message>
      <source>Also place each word as the base model sees it, with an arrow to where the tuned model puts it</source>
      <translation>同时画出基座模型中每个词的位置，并用箭头指向微调后模型中的位置</translation>
    </message>
    <message>
      <source>An axis needs two words.</source>
      <translation>一条轴需要两个词。</translation>
    </message>
    <message>
      <source>Analogy axes</source>
      <translation>类比坐标轴</translation>
    </message>
    <message>
      <source>Analogy axes need words, not samples.</source>
      <translation>类比坐标轴需要词语，而不是样本。</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Choose a dataset</source>
      <translation>选择数据集</translation>
    </message>
    <message>
      <source>Choose a dataset file first.</source>
      <translation>请先选择数据集文件。</translation>
    </message>
    <message>
      <source>Choose a model and some words.</source>
      <translation>请选择模型并输入一些词。</translation>
    </message>
    <message>
      <source>Choose a model first.</source>
      <translation>请先选择模型。</translation>
    </message>
    <message>
      <source>Computing…</source>
      <translation>正在计算…</translation>
    </message>
    <message>
      <source>Computing… {what}</source>
      <translation>正在计算… {what}</translation>
    </message>
    <message>
      <source>Dataset samples</source>
      <translation>数据集样本</translation>
    </message>
    <message>
      <source>Drift from base</source>
      <translation>相对基座的漂移</translation>
    </message>
    <message>
      <source>Nearest tokens</source>
      <translation>最近的词元</translation>
    </message>
    <message>
      <source>Nearest tokens (cosine, input embeddings)</source>
      <translation>最近的词元（余弦相似度，输入嵌入）</translation>
    </message>
    <message>
      <source>Not installed: pip install 'llm-studio[projection]'</source>
      <translation>未安装：pip install 'llm-studio[projection]'</translation>
    </message>
    <message>
      <source>PCA</source>
      <translation>PCA</translation>
    </message>
    <message>
      <source>Show</source>
      <translation>显示</translation>
    </message>
    <message>
      <source>UMAP</source>
      <translation>UMAP</translation>
    </message>
    <message>
      <source>Vectors from</source>
      <translation>向量来源</translation>
    </message>
    <message>
      <source>Words</source>
      <translation>词语</translation>
    </message>
    <message>
      <source>Words separated by commas; a word split into several tokens gets the mean of their vectors</source>
      <translation>用逗号分隔的词语；被切成多个词元的词取这些词元向量的平均值</translation>
    </message>
    <message>
      <source>colour by loss</source>
      <translation>按损失着色</translation>
    </message>
    <message>
      <source>colour by split</source>
      <translation>按划分着色</translation>
    </message>
    <message>
      <source>dataset file (json, jsonl, csv, parquet, txt)</source>
      <translation>数据集文件（json、jsonl、csv、parquet、txt）</translation>
    </message>
    <message>
      <source>input embeddings</source>
      <translation>输入嵌入</translation>
    </message>
    <message>
      <source>last layer</source>
      <translation>最后一层</translation>
    </message>
    <message>
      <source>layer {k}</source>
      <translation>第 {k} 层</translation>
    </message>
    <message>
      <source>layer {k} (embedding output)</source>
      <translation>第 {k} 层（嵌入层输出）</translation>
    </message>
    <message>
      <source>layer {k} (last)</source>
      <translation>第 {k} 层（最后一层）</translation>
    </message>
    <message>
      <source>searching…</source>
      <translation>正在搜索…</translation>
    </message>
    <message>
      <source>t-SNE</source>
      <translation>t-SNE</translation>
    </message>
    <message>
      <source>x:</source>
      <translation>x：</translation>
    </message>
    <message>
      <source>y:</source>
      <translation>y：</translation>
    </message>
    <message>
      <source>{n} points, {method}</source>
      <translation>{n} 个点，{method}</translation>
    </message>
  </context>
  <context>
    <name>Errors</name>
    <message>
      <source>Studio: something went wrong</source>
      <translation>Studio：出错了</translation>
    </message>
    <message>
      <source>Technical details are under “Show Details…”.</source>
      <translation>技术细节见“显示详细信息…”。</translation>
    </message>
  </context>
  <context>
    <name>EvalView</name>
    <message>
      <source>Choose a file to score</source>
      <translation>选择要评分的文件</translation>
    </message>
    <message>
      <source>Choose a run above.</source>
      <translation>请在上方选择一次训练。</translation>
    </message>
    <message>
      <source>No evaluation yet: score the held-out corpus or a file (or set eval_data in the run's config).</source>
      <translation>还没有评估：给留出语料或某个文件评分（或在训练配置里设置 eval_data）。</translation>
    </message>
    <message>
      <source>Perplexity of general text the tuning data does not hold, before tuning and at every checkpoint: what the model forgot</source>
      <translation>微调数据之外的通用文本在微调前和每个检查点的困惑度：模型忘掉了什么</translation>
    </message>
    <message>
      <source>Perplexity on a text or chat file, or accuracy on a question file (question / answer / choices)</source>
      <translation>文本或对话文件上的困惑度，或问答文件（question / answer / choices）上的准确率</translation>
    </message>
    <message>
      <source>Score a file…</source>
      <translation>给文件评分…</translation>
    </message>
    <message>
      <source>Score held-out corpus</source>
      <translation>给留出语料评分</translation>
    </message>
    <message>
      <source>Scoring the base model and every checkpoint…</source>
      <translation>正在给基座模型和每个检查点评分…</translation>
    </message>
    <message>
      <source>checkpoint</source>
      <translation>检查点</translation>
    </message>
    <message>
      <source>evaluation per checkpoint</source>
      <translation>各检查点的评估</translation>
    </message>
    <message>
      <source>file</source>
      <translation>文件</translation>
    </message>
    <message>
      <source>metric</source>
      <translation>指标</translation>
    </message>
    <message>
      <source>step</source>
      <translation>步</translation>
    </message>
    <message>
      <source>training loss</source>
      <translation>训练损失</translation>
    </message>
    <message>
      <source>value</source>
      <translation>数值</translation>
    </message>
    <message>
      <source>{name}: perplexity {a:.1f} → {b:.1f} ({pct:+.0%})</source>
      <translation>{name}：困惑度 {a:.1f} → {b:.1f}（{pct:+.0%}）</translation>
    </message>
    <message>
      <source>{name}: {metric} accuracy {a:.0%} → {b:.0%}</source>
      <translation>{name}：{metric} 准确率 {a:.0%} → {b:.0%}</translation>
    </message>
  </context>
  <context>
    <name>ExportDialog</name>
    <message>
      <source>Export a run</source>
      <translation>导出运行</translation>
    </message>
    <message>
      <source>Wait for the export to finish, or cancel it first.</source>
      <translation>请等待导出完成，或先取消导出。</translation>
    </message>
  </context>
  <context>
    <name>ExportForm</name>
    <message>
      <source>Adapter</source>
      <translation>适配器</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Cancelled: nothing was written.</source>
      <translation>已取消：没有写入任何文件。</translation>
    </message>
    <message>
      <source>Cancelling at the next step…</source>
      <translation>将在下一步取消…</translation>
    </message>
    <message>
      <source>Choose a run folder</source>
      <translation>选择运行文件夹</translation>
    </message>
    <message>
      <source>Choose the folder to export into.</source>
      <translation>请选择导出到的文件夹。</translation>
    </message>
    <message>
      <source>Choose…</source>
      <translation>选择…</translation>
    </message>
    <message>
      <source>Dequantize the 4-bit base to float, then merge (full size)</source>
      <translation>先把 4 位基础模型反量化为浮点，再合并（完整大小）</translation>
    </message>
    <message>
      <source>Export</source>
      <translation>导出</translation>
    </message>
    <message>
      <source>Export to:</source>
      <translation>导出到：</translation>
    </message>
    <message>
      <source>Exported to {path}</source>
      <translation>已导出到 {path}</translation>
    </message>
    <message>
      <source>Folder to export into</source>
      <translation>导出到的文件夹</translation>
    </message>
    <message>
      <source>Format:</source>
      <translation>格式：</translation>
    </message>
    <message>
      <source>Full weights with the adapter merged in: loads on its own</source>
      <translation>合并了适配器的完整权重：可单独加载</translation>
    </message>
    <message>
      <source>GGUF</source>
      <translation>GGUF</translation>
    </message>
    <message>
      <source>GGUF type:</source>
      <translation>GGUF 类型：</translation>
    </message>
    <message>
      <source>Merged model</source>
      <translation>合并后的模型</translation>
    </message>
    <message>
      <source>One file for llama.cpp, Ollama and LM Studio, checked by llama.cpp itself</source>
      <translation>一个文件即可用于 llama.cpp、Ollama 和 LM Studio，并由 llama.cpp 亲自校验</translation>
    </message>
    <message>
      <source>Open folder</source>
      <translation>打开文件夹</translation>
    </message>
    <message>
      <source>Pick a run to export.</source>
      <translation>请选择要导出的运行。</translation>
    </message>
    <message>
      <source>Replace a previous export in that folder</source>
      <translation>替换该文件夹中之前的导出</translation>
    </message>
    <message>
      <source>Run:</source>
      <translation>运行：</translation>
    </message>
    <message>
      <source>Small: the PEFT adapter, loaded on top of the base model</source>
      <translation>体积小：PEFT 适配器，加载在基础模型之上</translation>
    </message>
    <message>
      <source>The export failed; nothing was written.</source>
      <translation>导出失败；没有写入任何文件。</translation>
    </message>
    <message>
      <source>This run has no final weights and no checkpoint yet.</source>
      <translation>该运行还没有最终权重，也没有检查点。</translation>
    </message>
    <message>
      <source>Weights:</source>
      <translation>权重：</translation>
    </message>
    <message>
      <source>What the check on the way out finds appears here: the logits of the reloaded export against the in-studio model, and whether generation stops at the end of the turn.</source>
      <translation>导出时的检查结果显示在这里：重新加载的导出与工作室内模型的 logits 对比，以及生成是否在本轮结束处停止。</translation>
    </message>
    <message>
      <source>checkpoint step {n}</source>
      <translation>检查点 第 {n} 步</translation>
    </message>
    <message>
      <source>final</source>
      <translation>最终</translation>
    </message>
  </context>
  <context>
    <name>InspectPage</name>
    <message>
      <source>Attention</source>
      <translation>注意力</translation>
    </message>
    <message>
      <source>Changes</source>
      <translation>变化</translation>
    </message>
    <message>
      <source>Embeddings</source>
      <translation>嵌入</translation>
    </message>
    <message>
      <source>Evaluation</source>
      <translation>评估</translation>
    </message>
    <message>
      <source>Tokens</source>
      <translation>词元</translation>
    </message>
  </context>
  <context>
    <name>LaunchScriptDialog</name>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Export launch script</source>
      <translation>导出启动脚本</translation>
    </message>
    <message>
      <source>Folder for the launch script</source>
      <translation>启动脚本所在文件夹</translation>
    </message>
    <message>
      <source>GPUs per machine</source>
      <translation>每台机器的 GPU 数</translation>
    </message>
    <message>
      <source>Machines</source>
      <translation>机器数</translation>
    </message>
    <message>
      <source>Master address</source>
      <translation>主节点地址</translation>
    </message>
    <message>
      <source>Master port</source>
      <translation>主节点端口</translation>
    </message>
    <message>
      <source>New folder</source>
      <translation>新文件夹</translation>
    </message>
    <message>
      <source>Written: {folder} (see README.txt there)</source>
      <translation>已写入：{folder}（说明见其中的 README.txt）</translation>
    </message>
  </context>
  <context>
    <name>LengthHistogram</name>
    <message>
      <source>&lt;b&gt;No row will be truncated&lt;/b&gt;: every row fits in {max} tokens.</source>
      <translation>&lt;b&gt;没有行会被截断&lt;/b&gt;：每行都在 {max} 个 token 以内。</translation>
    </message>
    <message>
      <source>&lt;b&gt;{n} rows will be truncated&lt;/b&gt; (longer than max_length, {max} tokens): their ends are not learned.</source>
      <translation>&lt;b&gt;{n} 行会被截断&lt;/b&gt;（超过 max_length，即 {max} 个 token）：超出部分不会被学习。</translation>
    </message>
    <message>
      <source>Estimated from a random sample of {m} of {total} rows.</source>
      <translation>根据 {total} 行中随机抽取的 {m} 行估算。</translation>
    </message>
    <message>
      <source>Estimated from {m} of {total} rows so far.</source>
      <translation>目前根据 {total} 行中的 {m} 行估算。</translation>
    </message>
    <message>
      <source>Measuring token lengths…</source>
      <translation>正在测量 token 长度…</translation>
    </message>
    <message>
      <source>No row could be tokenized.</source>
      <translation>没有能分词的行。</translation>
    </message>
    <message>
      <source>No row is longer than {max} tokens.</source>
      <translation>没有超过 {max} 个 token 的行。</translation>
    </message>
    <message>
      <source>Token lengths appear here once a dataset and a model are chosen.</source>
      <translation>选择数据集和模型后，这里会显示 token 长度分布。</translation>
    </message>
    <message>
      <source>Tokens per row: median {p50}, 95% below {p95}, longest {longest} (&lt;a href="row:{row}"&gt;row {row}&lt;/a&gt;).</source>
      <translation>每行 token 数：中位数 {p50}，95% 低于 {p95}，最长 {longest}（&lt;a href="row:{row}"&gt;第 {row} 行&lt;/a&gt;）。</translation>
    </message>
    <message>
      <source>rows</source>
      <translation>行数</translation>
    </message>
    <message>
      <source>tokens per row</source>
      <translation>每行 token 数</translation>
    </message>
    <message>
      <source>{n} rows are longer than {max} tokens: pre-training splits them into windows of {max} (nothing is lost).</source>
      <translation>{n} 行超过 {max} 个 token：预训练会把它们切成长度为 {max} 的窗口（不会丢失内容）。</translation>
    </message>
    <message>
      <source>{n} rows keep nothing to learn (the reply starts after max_length).</source>
      <translation>{n} 行截断后没有可学习的内容（回复从 max_length 之后才开始）。</translation>
    </message>
  </context>
  <context>
    <name>MachineCard</name>
    <message>
      <source>CPU only: {name}, {ram} memory</source>
      <translation>仅 CPU：{name}，内存 {ram}</translation>
    </message>
    <message>
      <source>Checking this machine (PyTorch, GPU, bitsandbytes, disk)…</source>
      <translation>正在检查本机（PyTorch、GPU、bitsandbytes、磁盘）…</translation>
    </message>
    <message>
      <source>PyTorch {v} (CPU build)</source>
      <translation>PyTorch {v}（CPU 版本）</translation>
    </message>
    <message>
      <source>PyTorch {v} (CUDA {cuda})</source>
      <translation>PyTorch {v}（CUDA {cuda}）</translation>
    </message>
    <message>
      <source>The machine check failed: {reason}</source>
      <translation>本机检查失败：{reason}</translation>
    </message>
    <message>
      <source>This machine</source>
      <translation>本机</translation>
    </message>
    <message>
      <source>What fits (memory estimate): {fits}</source>
      <translation>能否放下（按内存估算）：{fits}</translation>
    </message>
    <message>
      <source>bitsandbytes {v}: QLoRA available</source>
      <translation>bitsandbytes {v}：可以使用 QLoRA</translation>
    </message>
    <message>
      <source>bitsandbytes: not usable</source>
      <translation>bitsandbytes：不可用</translation>
    </message>
    <message>
      <source>no</source>
      <translation>否</translation>
    </message>
    <message>
      <source>yes</source>
      <translation>是</translation>
    </message>
    <message>
      <source>{free} free for runs</source>
      <translation>运行目录所在磁盘剩余 {free}</translation>
    </message>
    <message>
      <source>{name}, {mem} memory</source>
      <translation>{name}，显存 {mem}</translation>
    </message>
    <message>
      <source>{recipe}: {answer} ({needs})</source>
      <translation>{recipe}：{answer}（需要 {needs}）</translation>
    </message>
    <message>
      <source>⚠ {what}. Fix: {fix}</source>
      <translation>⚠ {what}。解决办法：{fix}</translation>
    </message>
  </context>
  <context>
    <name>MainWindow</name>
    <message>
      <source>&amp;About Studio</source>
      <translation>关于 Studio(&amp;A)</translation>
    </message>
    <message>
      <source>&amp;File</source>
      <translation>文件(&amp;F)</translation>
    </message>
    <message>
      <source>&amp;Follow a run folder…</source>
      <translation>跟踪运行文件夹(&amp;F)…</translation>
    </message>
    <message>
      <source>&amp;Help</source>
      <translation>帮助(&amp;H)</translation>
    </message>
    <message>
      <source>&amp;Language</source>
      <translation>语言(&amp;L)</translation>
    </message>
    <message>
      <source>&amp;Open dataset…</source>
      <translation>打开数据集(&amp;O)…</translation>
    </message>
    <message>
      <source>&amp;Quit</source>
      <translation>退出(&amp;Q)</translation>
    </message>
    <message>
      <source>&amp;Runs folder…</source>
      <translation>运行文件夹(&amp;R)…</translation>
    </message>
    <message>
      <source>&amp;Settings</source>
      <translation>设置(&amp;S)</translation>
    </message>
    <message>
      <source>&amp;View</source>
      <translation>视图(&amp;V)</translation>
    </message>
    <message>
      <source>&lt;b&gt;Studio {version}&lt;/b&gt;&lt;br&gt;Fine-tune language models on your own computer: drop a dataset, pick a model and a method, watch the run live.</source>
      <translation>&lt;b&gt;Studio {version}&lt;/b&gt;&lt;br&gt;在自己的电脑上微调语言模型：拖入数据集，选择模型和方法，实时观看训练过程。</translation>
    </message>
    <message>
      <source>About Studio</source>
      <translation>关于 Studio</translation>
    </message>
    <message>
      <source>Cannot open this</source>
      <translation>无法打开</translation>
    </message>
    <message>
      <source>Datasets</source>
      <translation>数据集</translation>
    </message>
    <message>
      <source>Folder holding your runs</source>
      <translation>存放运行记录的文件夹</translation>
    </message>
    <message>
      <source>Follow a run folder</source>
      <translation>跟踪运行文件夹</translation>
    </message>
    <message>
      <source>Follow the system</source>
      <translation>跟随系统</translation>
    </message>
    <message>
      <source>Following</source>
      <translation>跟踪中</translation>
    </message>
    <message>
      <source>Following a run</source>
      <translation>正在跟踪运行</translation>
    </message>
    <message>
      <source>Idle</source>
      <translation>空闲</translation>
    </message>
    <message>
      <source>Keep training</source>
      <translation>继续训练</translation>
    </message>
    <message>
      <source>Language</source>
      <translation>语言</translation>
    </message>
    <message>
      <source>Later</source>
      <translation>稍后</translation>
    </message>
    <message>
      <source>Open a dataset</source>
      <translation>打开数据集</translation>
    </message>
    <message>
      <source>Restart now</source>
      <translation>立即重启</translation>
    </message>
    <message>
      <source>Starting: loading the model…</source>
      <translation>启动中：正在加载模型…</translation>
    </message>
    <message>
      <source>Stop and close</source>
      <translation>停止并关闭</translation>
    </message>
    <message>
      <source>Stopping: saving a checkpoint…</source>
      <translation>正在停止：保存检查点…</translation>
    </message>
    <message>
      <source>Studio opens datasets ({types}) and run folders; “{name}” is neither.</source>
      <translation>Studio 可以打开数据集（{types}）和运行文件夹；“{name}”都不是。</translation>
    </message>
    <message>
      <source>Studio: fine-tune language models</source>
      <translation>Studio：微调语言模型</translation>
    </message>
    <message>
      <source>Take the &amp;tour</source>
      <translation>功能导览(&amp;T)</translation>
    </message>
    <message>
      <source>The new language applies when Studio starts again.</source>
      <translation>新语言将在 Studio 重新启动后生效。</translation>
    </message>
    <message>
      <source>This run trains inside this window, so closing the window ends it. Studio first saves a checkpoint; you can resume the run later from the Train page.

To train with the window closed, start the run with “Start in background”.</source>
      <translation>这次训练在本窗口内进行，关闭窗口会结束训练。Studio 会先保存检查点，之后可以在“训练”页继续。

如果想关闭窗口后继续训练，请用“在后台开始”启动训练。</translation>
    </message>
    <message>
      <source>Training</source>
      <translation>训练</translation>
    </message>
    <message>
      <source>Training is running</source>
      <translation>训练正在进行</translation>
    </message>
  </context>
  <context>
    <name>Mapping</name>
    <message>
      <source>chosen: the preferred reply</source>
      <translation>chosen：更好的回复</translation>
    </message>
    <message>
      <source>history: earlier question / answer pairs</source>
      <translation>history：之前的问答对</translation>
    </message>
    <message>
      <source>label: good / bad (true / false)</source>
      <translation>label：好 / 坏（true / false）</translation>
    </message>
    <message>
      <source>messages: the list of turns</source>
      <translation>messages：对话轮次列表</translation>
    </message>
    <message>
      <source>prompt: the question / instruction</source>
      <translation>prompt：问题 / 指令</translation>
    </message>
    <message>
      <source>query: extra input under the prompt</source>
      <translation>query：提示下方的附加输入</translation>
    </message>
    <message>
      <source>rejected: the worse reply</source>
      <translation>rejected：较差的回复</translation>
    </message>
    <message>
      <source>response: the reply to learn</source>
      <translation>response：要学习的回复</translation>
    </message>
    <message>
      <source>system: the system prompt</source>
      <translation>system：系统提示词</translation>
    </message>
    <message>
      <source>text: plain text (pre-training)</source>
      <translation>text：纯文本（预训练）</translation>
    </message>
    <message>
      <source>tools: tool descriptions</source>
      <translation>tools：工具描述</translation>
    </message>
  </context>
  <context>
    <name>MappingPanel</name>
    <message>
      <source>Detect again</source>
      <translation>重新识别</translation>
    </message>
    <message>
      <source>Field</source>
      <translation>字段</translation>
    </message>
    <message>
      <source>Field mapping: which field is which</source>
      <translation>字段映射：哪个字段是什么</translation>
    </message>
    <message>
      <source>Forget the mapping; read the file by its shape.</source>
      <translation>忘掉映射，按文件格式自动读取。</translation>
    </message>
    <message>
      <source>Give fields a role to read this file your own way; the preview, the problems and the token lengths follow each change.</source>
      <translation>给字段指定角色，按你的方式读取这个文件；预览、问题列表和 token 长度会随每次修改更新。</translation>
    </message>
    <message>
      <source>Map fields…</source>
      <translation>映射字段…</translation>
    </message>
    <message>
      <source>Mapping (config key columns)</source>
      <translation>映射（配置项 columns）</translation>
    </message>
    <message>
      <source>No field has a role yet: give the prompt and the response, the messages, or the text.</source>
      <translation>还没有字段被指定角色：请指定提示和回复、对话列表（messages）或纯文本（text）。</translation>
    </message>
    <message>
      <source>Role</source>
      <translation>角色</translation>
    </message>
    <message>
      <source>Sample value</source>
      <translation>示例值</translation>
    </message>
    <message>
      <source>Say which field is the prompt, which the reply, ... (config key columns)</source>
      <translation>指定哪个字段是提示、哪个是回复……（配置项 columns）</translation>
    </message>
    <message>
      <source>Studio could not tell the shape of this file, so it guessed which field is which ({reason}). Check the preview, and change a role below if it is wrong.</source>
      <translation>Studio 认不出这个文件的格式，于是猜测了各字段的角色（{reason}）。请检查预览；如果不对，在下面修改角色。</translation>
    </message>
    <message>
      <source>The mapping as the config key columns writes it; edit it by hand for nested paths (a.b.c) and the turn tags (role_tag, content_tag, user_tag, assistant_tag).</source>
      <translation>配置项 columns 的写法；嵌套路径（a.b.c）和对话标签（role_tag、content_tag、user_tag、assistant_tag）可在这里手动编辑。</translation>
    </message>
    <message>
      <source>{kind}, in {share:.0%} of the first rows</source>
      <translation>{kind}，出现在前几行的 {share:.0%} 中</translation>
    </message>
  </context>
  <context>
    <name>MemoryView</name>
    <message>
      <source>&lt;b style='color:#1e8449'&gt;Fits&lt;/b&gt;: about {total} of {device} on {where}.</source>
      <translation>&lt;b style='color:#1e8449'&gt;放得下&lt;/b&gt;：约需 {total}，{where} 共有 {device}。</translation>
    </message>
    <message>
      <source>&lt;b style='color:#b03a2e'&gt;Does not fit&lt;/b&gt;: about {total}, but {where} has {device}.</source>
      <translation>&lt;b style='color:#b03a2e'&gt;放不下&lt;/b&gt;：约需 {total}，但 {where} 只有 {device}。</translation>
    </message>
    <message>
      <source>&lt;b&gt;About {total}&lt;/b&gt; at the peak of training; the device's memory is unknown.</source>
      <translation>训练峰值&lt;b&gt;约 {total}&lt;/b&gt;；设备内存大小未知。</translation>
    </message>
    <message>
      <source>&lt;b&gt;To make it fit:&lt;/b&gt;</source>
      <translation>&lt;b&gt;可以这样减少内存：&lt;/b&gt;</translation>
    </message>
    <message>
      <source>GPU {size}</source>
      <translation>GPU {size}</translation>
    </message>
    <message>
      <source>RAM {size}</source>
      <translation>内存 {size}</translation>
    </message>
    <message>
      <source>The estimate appears once a model is chosen.</source>
      <translation>选择模型后会显示估算结果。</translation>
    </message>
    <message>
      <source>activations</source>
      <translation>激活值</translation>
    </message>
    <message>
      <source>gradients</source>
      <translation>梯度</translation>
    </message>
    <message>
      <source>logits</source>
      <translation>logits</translation>
    </message>
    <message>
      <source>optimizer state</source>
      <translation>优化器状态</translation>
    </message>
    <message>
      <source>overhead</source>
      <translation>额外开销</translation>
    </message>
    <message>
      <source>precision {p}</source>
      <translation>精度 {p}</translation>
    </message>
    <message>
      <source>the GPU</source>
      <translation>GPU</translation>
    </message>
    <message>
      <source>this computer</source>
      <translation>本机</translation>
    </message>
    <message>
      <source>weights</source>
      <translation>权重</translation>
    </message>
    <message>
      <source>with gradient checkpointing</source>
      <translation>启用梯度检查点</translation>
    </message>
  </context>
  <context>
    <name>Method</name>
    <message>
      <source>AdaLoRA: LoRA whose rank budget moves during training to the layers that need it most.</source>
      <translation>AdaLoRA：训练过程中把秩预算分配给最需要的层的 LoRA。</translation>
    </message>
    <message>
      <source>DoRA: LoRA that also learns each output's magnitude; often closer to full fine-tuning.</source>
      <translation>DoRA：同时学习每个输出幅度的 LoRA；效果通常更接近全参数微调。</translation>
    </message>
    <message>
      <source>Freeze: only the last layers (and the final norm) train; the rest stays as it is.</source>
      <translation>冻结：只训练最后几层（以及最终的归一化层），其余保持不变。</translation>
    </message>
    <message>
      <source>Full fine-tuning: every weight trains. The most memory by far.</source>
      <translation>全参数微调：所有权重都参与训练。内存占用最大。</translation>
    </message>
    <message>
      <source>IA3: learns one scaling vector per chosen layer: the fewest trainable weights of all.</source>
      <translation>IA3：为每个选中的层学习一个缩放向量：可训练权重最少。</translation>
    </message>
    <message>
      <source>LoRA: every chosen linear layer W stays frozen; a small update B·A (rank r) is learned beside it.</source>
      <translation>LoRA：选中的线性层 W 保持冻结，在旁边学习一个小的更新 B·A（秩为 r）。</translation>
    </message>
    <message>
      <source>P-tuning: virtual tokens produced by a small learned network (prompt encoder).</source>
      <translation>P-tuning：由一个小的可学习网络（提示编码器）生成虚拟 token。</translation>
    </message>
    <message>
      <source>Prefix tuning: learned keys and values are put before the sequence in every layer.</source>
      <translation>前缀微调：在每一层的序列前加入可学习的键和值。</translation>
    </message>
    <message>
      <source>Prompt tuning: the model is untouched; learned virtual tokens are put before every input.</source>
      <translation>提示微调：模型本身不变；在每个输入前加入可学习的虚拟 token。</translation>
    </message>
    <message>
      <source>QLoRA: LoRA on a base model stored in 4-bit (NF4). Needs the least memory; a little slower.</source>
      <translation>QLoRA：在以 4 位（NF4）存储的基座模型上做 LoRA。内存需求最小，速度稍慢。</translation>
    </message>
  </context>
  <context>
    <name>ModelPanel</name>
    <message>
      <source>(none yet)</source>
      <translation>（暂无）</translation>
    </message>
    <message>
      <source>(recent models)</source>
      <translation>（最近使用的模型）</translation>
    </message>
    <message>
      <source>A learning rate that usually works: {lr}</source>
      <translation>通常合适的学习率：{lr}</translation>
    </message>
    <message>
      <source>A small model with random weights and its own tokenizer, made here in seconds: for trying the studio out without downloading anything.</source>
      <translation>一个随机权重的小模型，带有自己的分词器，几秒钟即可生成：无需下载任何东西就能试用 Studio。</translation>
    </message>
    <message>
      <source>Allow for this model</source>
      <translation>对这个模型允许</translation>
    </message>
    <message>
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <source>Building the parameter map…</source>
      <translation>正在生成参数图…</translation>
    </message>
    <message>
      <source>Cannot use this model: {reason}</source>
      <translation>无法使用此模型：{reason}</translation>
    </message>
    <message>
      <source>Choose a folder…</source>
      <translation>选择文件夹…</translation>
    </message>
    <message>
      <source>Choose a model folder</source>
      <translation>选择模型文件夹</translation>
    </message>
    <message>
      <source>Choose a model to see which of its weights the method trains.</source>
      <translation>选择模型后，可以看到所选方法会训练哪些权重。</translation>
    </message>
    <message>
      <source>Create a starter model…</source>
      <translation>创建入门模型…</translation>
    </message>
    <message>
      <source>Creating a starter model in {path}…</source>
      <translation>正在 {path} 创建入门模型…</translation>
    </message>
    <message>
      <source>Detecting the device…</source>
      <translation>正在检测设备…</translation>
    </message>
    <message>
      <source>Don't allow</source>
      <translation>不允许</translation>
    </message>
    <message>
      <source>Memory estimate</source>
      <translation>内存估算</translation>
    </message>
    <message>
      <source>Method</source>
      <translation>方法</translation>
    </message>
    <message>
      <source>No model chosen yet.</source>
      <translation>尚未选择模型。</translation>
    </message>
    <message>
      <source>Parameter map: what the method trains</source>
      <translation>参数图：该方法训练哪些部分</translation>
    </message>
    <message>
      <source>Reading the model…</source>
      <translation>正在读取模型…</translation>
    </message>
    <message>
      <source>Recent</source>
      <translation>最近</translation>
    </message>
    <message>
      <source>Starter model written to {path}.</source>
      <translation>入门模型已写入 {path}。</translation>
    </message>
    <message>
      <source>The estimate appears once a model is chosen.</source>
      <translation>选择模型后会显示估算结果。</translation>
    </message>
    <message>
      <source>This model runs its own code</source>
      <translation>这个模型会运行它自带的代码</translation>
    </message>
    <message>
      <source>Use</source>
      <translation>使用</translation>
    </message>
    <message>
      <source>Where to put the starter model</source>
      <translation>入门模型存放位置</translation>
    </message>
    <message>
      <source>hidden {n}</source>
      <translation>隐藏维度 {n}</translation>
    </message>
    <message>
      <source>or a hub id, e.g. Qwen/Qwen2.5-0.5B-Instruct</source>
      <translation>或输入模型仓库 ID，例如 Qwen/Qwen2.5-0.5B-Instruct</translation>
    </message>
    <message>
      <source>small (5 M)</source>
      <translation>小（500 万参数）</translation>
    </message>
    <message>
      <source>tiny (0.4 M)</source>
      <translation>微型（40 万参数）</translation>
    </message>
    <message>
      <source>vocabulary {n}</source>
      <translation>词表 {n}</translation>
    </message>
    <message>
      <source>{name} ships Python code that runs when the model loads:
{files}

Allow it only if you trust the model's author.</source>
      <translation>{name} 自带 Python 代码，加载模型时会运行：
{files}

只有在你信任模型作者时才允许。</translation>
    </message>
    <message>
      <source>{n} layers</source>
      <translation>{n} 层</translation>
    </message>
  </context>
  <context>
    <name>ModelPicker</name>
    <message>
      <source>A model folder, a finished run (its adapter on its base model) or the bundled MiniLM encoder</source>
      <translation>模型文件夹、已完成的运行（基座模型加其适配器）或自带的 MiniLM 编码器</translation>
    </message>
    <message>
      <source>Browse…</source>
      <translation>浏览…</translation>
    </message>
    <message>
      <source>Choose a model or run folder</source>
      <translation>选择模型或运行文件夹</translation>
    </message>
    <message>
      <source>MiniLM-L6 (pretrained encoder)</source>
      <translation>MiniLM-L6（预训练编码器）</translation>
    </message>
    <message>
      <source>Model:</source>
      <translation>模型：</translation>
    </message>
    <message>
      <source>run {name} ({method})</source>
      <translation>运行 {name}（{method}）</translation>
    </message>
    <message>
      <source>with adapter {name}</source>
      <translation>带适配器 {name}</translation>
    </message>
  </context>
  <context>
    <name>ParamMapView</name>
    <message>
      <source>Choose a model above (a folder, a hub id, or Create a starter model…): every weight matrix appears here, coloured by what the method trains.</source>
      <translation>先在上方选择模型（文件夹、Hub 名称，或“创建入门模型…”）：每个权重矩阵都会显示在这里，颜色表示方法训练了哪些部分。</translation>
    </message>
    <message>
      <source>Choose a model to see which of its weights the method trains.</source>
      <translation>选择模型后，可以看到所选方法会训练哪些权重。</translation>
    </message>
    <message>
      <source>Each block is one weight matrix; its width grows with its size. An orange band is an adapter the method adds to it. Point at a block for its name and counts.</source>
      <translation>每个方块是一个权重矩阵，宽度随其大小增长。橙色条表示方法在该模块上新增的适配器。把鼠标指向方块可查看名称和参数数量。</translation>
    </message>
    <message>
      <source>added by the method (trainable)</source>
      <translation>方法新增（可训练）</translation>
    </message>
    <message>
      <source>added by the method, trains</source>
      <translation>方法新增，参与训练</translation>
    </message>
    <message>
      <source>feeds {name}</source>
      <translation>输入到 {name}</translation>
    </message>
    <message>
      <source>frozen</source>
      <translation>冻结</translation>
    </message>
    <message>
      <source>frozen, 4-bit</source>
      <translation>冻结（4 位）</translation>
    </message>
    <message>
      <source>frozen, stored in 4-bit</source>
      <translation>冻结，以 4 位存储</translation>
    </message>
    <message>
      <source>input</source>
      <translation>输入</translation>
    </message>
    <message>
      <source>layer {n}</source>
      <translation>第 {n} 层</translation>
    </message>
    <message>
      <source>output</source>
      <translation>输出</translation>
    </message>
    <message>
      <source>shares its weight with {name}</source>
      <translation>与 {name} 共享权重</translation>
    </message>
    <message>
      <source>trainable</source>
      <translation>可训练</translation>
    </message>
    <message>
      <source>trains</source>
      <translation>参与训练</translation>
    </message>
    <message>
      <source>{name} ({shape}): {n} trainable</source>
      <translation>{name}（{shape}）：{n} 个可训练参数</translation>
    </message>
    <message>
      <source>{n} of them train</source>
      <translation>其中 {n} 个参与训练</translation>
    </message>
    <message>
      <source>{n} parameters: {state}</source>
      <translation>{n} 个参数：{state}</translation>
    </message>
    <message>
      <source>{share} of {total} parameters train ({trainable} of {exact}).</source>
      <translation>{total} 个参数中有 {share} 参与训练（{exact} 个中的 {trainable} 个）。</translation>
    </message>
  </context>
  <context>
    <name>PlotsView</name>
    <message>
      <source>Accuracy / KL / clipping</source>
      <translation>准确率 / KL / 裁剪</translation>
    </message>
    <message>
      <source>Clear overlays</source>
      <translation>清除叠加曲线</translation>
    </message>
    <message>
      <source>Completion length (tokens)</source>
      <translation>补全长度（token）</translation>
    </message>
    <message>
      <source>Eval loss</source>
      <translation>评估损失</translation>
    </message>
    <message>
      <source>Gradient norm</source>
      <translation>梯度范数</translation>
    </message>
    <message>
      <source>KL</source>
      <translation>KL</translation>
    </message>
    <message>
      <source>Learning rate</source>
      <translation>学习率</translation>
    </message>
    <message>
      <source>Log scale (loss)</source>
      <translation>对数坐标（损失）</translation>
    </message>
    <message>
      <source>Memory (MB)</source>
      <translation>内存（MB）</translation>
    </message>
    <message>
      <source>No run on the charts yet. Press Start (or take the first run on the Welcome page), or pick a past run in the list: loss, learning rate and memory draw here live.</source>
      <translation>图表上还没有运行。点击“开始”（或在欢迎页进行第一次运行），或在列表中选择以前的运行：损失、学习率和内存会在这里实时绘制。</translation>
    </message>
    <message>
      <source>Rewards</source>
      <translation>奖励</translation>
    </message>
    <message>
      <source>Smoothing</source>
      <translation>平滑</translation>
    </message>
    <message>
      <source>Tokens / s</source>
      <translation>每秒 token 数</translation>
    </message>
    <message>
      <source>Training loss</source>
      <translation>训练损失</translation>
    </message>
    <message>
      <source>Weight of the moving average drawn over the raw loss (0 = no smoothing).</source>
      <translation>叠加在原始损失上的滑动平均权重（0 表示不平滑）。</translation>
    </message>
    <message>
      <source>accuracy</source>
      <translation>准确率</translation>
    </message>
    <message>
      <source>allocated</source>
      <translation>已分配</translation>
    </message>
    <message>
      <source>chosen</source>
      <translation>被选中</translation>
    </message>
    <message>
      <source>clip fraction</source>
      <translation>裁剪比例</translation>
    </message>
    <message>
      <source>eval</source>
      <translation>评估</translation>
    </message>
    <message>
      <source>lr</source>
      <translation>学习率</translation>
    </message>
    <message>
      <source>margin</source>
      <translation>间隔</translation>
    </message>
    <message>
      <source>mean length</source>
      <translation>平均长度</translation>
    </message>
    <message>
      <source>norm</source>
      <translation>范数</translation>
    </message>
    <message>
      <source>peak</source>
      <translation>峰值</translation>
    </message>
    <message>
      <source>process RSS</source>
      <translation>进程常驻内存</translation>
    </message>
    <message>
      <source>raw</source>
      <translation>原始</translation>
    </message>
    <message>
      <source>rejected</source>
      <translation>被拒绝</translation>
    </message>
    <message>
      <source>reserved</source>
      <translation>已预留</translation>
    </message>
    <message>
      <source>smoothed</source>
      <translation>平滑</translation>
    </message>
    <message>
      <source>spread</source>
      <translation>离散度</translation>
    </message>
    <message>
      <source>step</source>
      <translation>步</translation>
    </message>
    <message>
      <source>tokens/s</source>
      <translation>token/秒</translation>
    </message>
    <message>
      <source>total reward</source>
      <translation>总奖励</translation>
    </message>
    <message>
      <source>{n} steps</source>
      <translation>{n} 步</translation>
    </message>
  </context>
  <context>
    <name>QueueView</name>
    <message>
      <source>, paused</source>
      <translation>，已暂停</translation>
    </message>
    <message>
      <source>&lt;b&gt;Queue&lt;/b&gt;: {n} waiting{paused}; runner {runner}</source>
      <translation>&lt;b&gt;队列&lt;/b&gt;：{n} 个等待中{paused}；执行器{runner}</translation>
    </message>
    <message>
      <source>A waiting run never starts; a running one stops with a checkpoint.</source>
      <translation>等待中的运行不再启动；正在进行的运行保存检查点后停止。</translation>
    </message>
    <message>
      <source>At once:</source>
      <translation>同时运行：</translation>
    </message>
    <message>
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <source>Continue</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>How many queued runs train at the same time when the runner starts (on the CPU they share the cores).</source>
      <translation>运行器启动后同时训练几个排队的运行（在 CPU 上它们共享核心）。</translation>
    </message>
    <message>
      <source>Method</source>
      <translation>方法</translation>
    </message>
    <message>
      <source>Move down</source>
      <translation>下移</translation>
    </message>
    <message>
      <source>Move up</source>
      <translation>上移</translation>
    </message>
    <message>
      <source>Pause</source>
      <translation>暂停</translation>
    </message>
    <message>
      <source>Queue a failed or cancelled run again (it resumes from its checkpoint).</source>
      <translation>把失败或已取消的运行重新加入队列（从其检查点继续）。</translation>
    </message>
    <message>
      <source>Retry</source>
      <translation>重试</translation>
    </message>
    <message>
      <source>Run</source>
      <translation>运行</translation>
    </message>
    <message>
      <source>Run queue</source>
      <translation>运行队列</translation>
    </message>
    <message>
      <source>Start the queue's runner in the background: it keeps going when the window closes.</source>
      <translation>在后台启动队列执行器：关闭窗口后它仍会继续。</translation>
    </message>
    <message>
      <source>State</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Step</source>
      <translation>步数</translation>
    </message>
    <message>
      <source>The run in progress finishes; no other starts until you continue.</source>
      <translation>正在进行的运行会完成；在你继续之前不会启动其他运行。</translation>
    </message>
    <message>
      <source>cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>finished</source>
      <translation>已完成</translation>
    </message>
    <message>
      <source>not running</source>
      <translation>未运行</translation>
    </message>
    <message>
      <source>queued</source>
      <translation>排队中</translation>
    </message>
    <message>
      <source>running</source>
      <translation>运行中</translation>
    </message>
  </context>
  <context>
    <name>ResumeDialog</name>
    <message>
      <source>Cannot resume: {reason}</source>
      <translation>无法继续：{reason}</translation>
    </message>
    <message>
      <source>Effective batch: {b} × {a} = {n}</source>
      <translation>有效批大小：{b} × {a} = {n}</translation>
    </message>
    <message>
      <source>Effective batch: {b} × {a} = {n} (must stay {need})</source>
      <translation>有效批大小：{b} × {a} = {n}（必须保持为 {need}）</translation>
    </message>
    <message>
      <source>Half the samples per micro-batch and twice the micro-batches per step: less memory, the same training.</source>
      <translation>每个微批次的样本减半，每步的微批次数加倍：占用内存更少，训练效果不变。</translation>
    </message>
    <message>
      <source>Halve micro-batch, keep effective batch</source>
      <translation>微批次减半，有效批大小不变</translation>
    </message>
    <message>
      <source>It ran out of memory at step {step} with a micro-batch of 1 and gradient checkpointing on: a new run with a shorter max length needs less.</source>
      <translation>在第 {step} 步内存不足，此时微批次已是 1 且梯度检查点已开启：用更短的最大长度新建一次运行可减少内存。</translation>
    </message>
    <message>
      <source>It ran out of memory at step {step} with a micro-batch of 1: gradient checkpointing is turned on below.</source>
      <translation>在第 {step} 步内存不足，微批次已是 1：已在下方开启梯度检查点。</translation>
    </message>
    <message>
      <source>It ran out of memory at step {step}: the micro-batch is halved below, the effective batch kept.</source>
      <translation>在第 {step} 步内存不足：已在下方把微批次减半，有效批大小不变。</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Resume with changes</source>
      <translation>更改设置后继续</translation>
    </message>
    <message>
      <source>“{run}” continues from its checkpoint at step {step} with these settings.</source>
      <translation>“{run}”将用以下设置从第 {step} 步的检查点继续。</translation>
    </message>
    <message>
      <source>“{run}” has no checkpoint yet: it starts again from step 0 with these settings.</source>
      <translation>“{run}”还没有检查点：将用以下设置从第 0 步重新开始。</translation>
    </message>
  </context>
  <context>
    <name>RewardTrust</name>
    <message>
      <source>Allow this file</source>
      <translation>允许这个文件</translation>
    </message>
    <message>
      <source>Don't allow</source>
      <translation>不允许</translation>
    </message>
    <message>
      <source>This reward file runs Python code</source>
      <translation>这个奖励文件会运行 Python 代码</translation>
    </message>
    <message>
      <source>{path}
sha256 {digest}

The run will call its reward functions. Allow it only if you have read it or trust its author.</source>
      <translation>{path}
sha256 {digest}

运行会调用其中的奖励函数。只有在你读过它或信任其作者时才允许。</translation>
    </message>
  </context>
  <context>
    <name>RowTableModel</name>
    <message>
      <source>Prompt / text</source>
      <translation>提示 / 文本</translation>
    </message>
    <message>
      <source>Reply</source>
      <translation>回复</translation>
    </message>
    <message>
      <source>Row</source>
      <translation>行号</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Turns</source>
      <translation>轮数</translation>
    </message>
    <message>
      <source>ok</source>
      <translation>正常</translation>
    </message>
  </context>
  <context>
    <name>RunConfig</name>
    <message>
      <source>A file scored before training and at every checkpoint, written to eval.jsonl: text or chat -&gt; perplexity, question file -&gt; accuracy; corpus = the bundled corpus's held-out text (forgetting). Empty: off.</source>
      <translation>训练前和每个检查点都要评分的文件，结果写入 eval.jsonl：文本或对话文件 -&gt; 困惑度，问答文件 -&gt; 准确率；corpus = 自带语料的留出文本（看遗忘）。留空：关闭。</translation>
    </message>
    <message>
      <source>AdamW weight decay.</source>
      <translation>AdamW 的权重衰减。</translation>
    </message>
    <message>
      <source>Allow .bin/.pt weight files (pickle, loaded with weights_only). Off: safetensors only.</source>
      <translation>允许加载 .bin/.pt 权重文件（pickle 格式，以 weights_only 方式加载）。关闭时只加载 safetensors。</translation>
    </message>
    <message>
      <source>Also log the metrics to TensorBoard (event files in the run's tensorboard/ folder; needs the tensorboard package), MLflow (needs mlflow-skinny; see mlflow_tracking_uri) or all of them. metrics.jsonl is always written.</source>
      <translation>同时把指标记录到 TensorBoard（事件文件位于运行目录的 tensorboard/ 文件夹；需要 tensorboard 包）、MLflow（需要 mlflow-skinny；见 mlflow_tracking_uri）或全部。metrics.jsonl 始终会写入。</translation>
    </message>
    <message>
      <source>Also put loss on prompt / user tokens (default: loss on assistant tokens only).</source>
      <translation>对提示词 / 用户部分的 token 也计算损失（默认只对助手回答计算）。</translation>
    </message>
    <message>
      <source>Base model: a local Hugging Face folder or a hub id (org/name).</source>
      <translation>基础模型：本地 Hugging Face 文件夹，或 Hub 上的模型 ID（组织/名称）。</translation>
    </message>
    <message>
      <source>Checkpoint every N steps (and at stop / the end).</source>
      <translation>每 N 步保存一次检查点（停止和结束时也会保存）。</translation>
    </message>
    <message>
      <source>Checkpoints kept; older ones are deleted once a newer one is complete.</source>
      <translation>保留的检查点个数；新的检查点写完后才删除旧的。</translation>
    </message>
    <message>
      <source>Clip gradients to this norm (0 = no clipping).</source>
      <translation>把梯度裁剪到这个范数（0 表示不裁剪）。</translation>
    </message>
    <message>
      <source>Dataset file: .json, .jsonl, .csv, .parquet or .txt.</source>
      <translation>数据集文件：.json、.jsonl、.csv、.parquet 或 .txt。</translation>
    </message>
    <message>
      <source>Dataset shape; auto detects it from the rows.</source>
      <translation>数据集格式；auto 会根据数据行自动识别。</translation>
    </message>
    <message>
      <source>Dropout on the LoRA input.</source>
      <translation>LoRA 输入上的 dropout。</translation>
    </message>
    <message>
      <source>Evaluate every N steps (and at the end).</source>
      <translation>每 N 步评估一次（结束时也会评估）。</translation>
    </message>
    <message>
      <source>How the learning rate moves after warm-up.</source>
      <translation>预热之后学习率的变化方式。</translation>
    </message>
    <message>
      <source>How to fine-tune: which part of the weights trains.</source>
      <translation>微调方式：训练权重的哪一部分。</translation>
    </message>
    <message>
      <source>Layers that get adapters: all-linear, or names separated by commas (q_proj,v_proj); all-linear,lm_head also adapts the output layer.</source>
      <translation>加适配器的层：all-linear，或用逗号分隔的层名（q_proj,v_proj）；all-linear,lm_head 还会给输出层加适配器。</translation>
    </message>
    <message>
      <source>LoRA rank r: the update is B (out x r) @ A (r x in).</source>
      <translation>LoRA 的秩 r：更新量为 B (out x r) @ A (r x in)。</translation>
    </message>
    <message>
      <source>LoRA scale: the update is multiplied by alpha / r.</source>
      <translation>LoRA 缩放：更新量乘以 alpha / r。</translation>
    </message>
    <message>
      <source>Longest sample in tokens; longer ones are truncated.</source>
      <translation>样本的最大 token 数；更长的会被截断。</translation>
    </message>
    <message>
      <source>Micro-batches per optimizer step (effective batch = batch_size x grad_accum x processes).</source>
      <translation>每个优化步包含的微批次数（有效批大小 = batch_size x grad_accum x processes）。</translation>
    </message>
    <message>
      <source>Optimizer steps to run; empty: run `epochs`.</source>
      <translation>要运行的优化步数；留空则按 `epochs` 运行。</translation>
    </message>
    <message>
      <source>Pack each micro-batch into one row, attention kept per sample (no padding at all). Off: similar lengths are batched together, which wastes little padding and keeps attention cost per sample.</source>
      <translation>把每个微批次拼成一行，注意力仍按样本隔开（完全没有填充）。关闭时把长度相近的样本放在一批，填充很少，注意力开销也按样本计算。</translation>
    </message>
    <message>
      <source>Passes over the training rows (used when max_steps is empty).</source>
      <translation>遍历训练数据的轮数（max_steps 为空时使用）。</translation>
    </message>
    <message>
      <source>Peak learning rate.</source>
      <translation>峰值学习率。</translation>
    </message>
    <message>
      <source>Random seed for data order, splits and initialisation.</source>
      <translation>数据顺序、划分和初始化所用的随机种子。</translation>
    </message>
    <message>
      <source>Recompute activations to save memory (~20% slower). auto: on only when the run would not fit.</source>
      <translation>重新计算激活值以节省显存（约慢 20%）。auto：仅在显存不够时开启。</translation>
    </message>
    <message>
      <source>Replace a run already in output_dir.</source>
      <translation>替换 output_dir 中已有的运行。</translation>
    </message>
    <message>
      <source>Run Python code shipped inside the model folder. Only for models you trust; off unless you allow it.</source>
      <translation>运行模型文件夹中自带的 Python 代码。仅用于你信任的模型；除非你允许，否则关闭。</translation>
    </message>
    <message>
      <source>Samples (or packed rows) per micro-batch.</source>
      <translation>每个微批次的样本数（或打包后的行数）。</translation>
    </message>
    <message>
      <source>Share of rows held out for eval loss and perplexity (0 = no eval).</source>
      <translation>留出用于计算评估损失和困惑度的数据比例（0 表示不评估）。</translation>
    </message>
    <message>
      <source>Share of steps spent warming the learning rate up.</source>
      <translation>学习率预热所占的步数比例。</translation>
    </message>
    <message>
      <source>The MLflow experiment the run is logged in.</source>
      <translation>这次运行记录在哪个 MLflow 实验（experiment）中。</translation>
    </message>
    <message>
      <source>The run directory (created). One that already holds a run needs resume or overwrite.</source>
      <translation>运行目录（会自动创建）。已有运行的目录需要继续训练或选择覆盖。</translation>
    </message>
    <message>
      <source>Train on the good rows of a file that has bad ones. Off: such a file is refused, naming the rows.</source>
      <translation>文件中有问题行时，只用正常的行训练。关闭时会拒绝该文件并列出问题行。</translation>
    </message>
    <message>
      <source>Training processes in all nodes (one per GPU, or CPU processes with gloo), started through torchrun; each trains its share of every step's rows. train --processes N sets it.</source>
      <translation>所有节点上的训练进程总数（每块 GPU 一个，或使用 gloo 的 CPU 进程），通过 torchrun 启动；每个进程训练每一步中属于自己的那部分样本。train --processes N 会设置它。</translation>
    </message>
    <message>
      <source>Virtual tokens for prompt / prefix / P-tuning.</source>
      <translation>prompt / prefix / P-tuning 使用的虚拟 token 数。</translation>
    </message>
    <message>
      <source>What eval_data measures; auto: accuracy for question files, else perplexity.</source>
      <translation>eval_data 衡量什么；auto：问答文件用准确率，其他用困惑度。</translation>
    </message>
    <message>
      <source>Where report_to: mlflow logs. Empty: a SQLite store in the run's mlflow/ folder (open it with mlflow ui --backend-store-uri sqlite:///RUN/mlflow/mlflow.db); or any MLflow tracking URI (http://host:5000, sqlite:///PATH.db).</source>
      <translation>report_to: mlflow 记录到哪里。留空：运行目录 mlflow/ 文件夹中的 SQLite 存储（用 mlflow ui --backend-store-uri sqlite:///RUN/mlflow/mlflow.db 打开）；或任意 MLflow tracking URI（http://host:5000、sqlite:///PATH.db）。</translation>
    </message>
    <message>
      <source>Where to train: auto picks the CUDA GPU when there is one, else Apple MPS (untested), else the CPU.</source>
      <translation>训练设备：auto 有 CUDA GPU 时用 GPU，否则用 Apple MPS（未经测试），再否则用 CPU。</translation>
    </message>
    <message>
      <source>Which GPUs the processes use, by number: 0,1 (CUDA_VISIBLE_DEVICES for a run started here). Empty: the first `processes` GPUs.</source>
      <translation>进程使用哪些 GPU，按编号填写：0,1（在本机启动的运行会设置 CUDA_VISIBLE_DEVICES）。留空：使用前 `processes` 块 GPU。</translation>
    </message>
    <message>
      <source>Which field plays which role, for files whose fields have other names: prompt=q_text,response=a_text (in YAML also a mapping). Roles: prompt, query, response, system, history, messages (+ role_tag, content_tag, user_tag, assistant_tag, system_tag), chosen, rejected, label, text, tools; a.b.c reaches nested fields.</source>
      <translation>字段名不同于标准格式时，指定哪个字段扮演哪个角色：prompt=q_text,response=a_text（YAML 中也可写成映射）。角色：prompt、query、response、system、history、messages（以及 role_tag、content_tag、user_tag、assistant_tag、system_tag）、chosen、rejected、label、text、tools；a.b.c 可指向嵌套字段。</translation>
    </message>
    <message>
      <source>With processes &gt; 1: ddp keeps a whole copy of the model on every device; fsdp shards weights, gradients and optimizer state across them (torch fully_shard) for models that do not fit one.</source>
      <translation>processes &gt; 1 时：ddp 在每个设备上保存完整的模型副本；fsdp 把权重、梯度和优化器状态切分到各设备上（torch fully_shard），用于单卡放不下的模型。</translation>
    </message>
    <message>
      <source>Write a metrics line every N steps.</source>
      <translation>每 N 步写一行指标。</translation>
    </message>
    <message>
      <source>Write the dataset rows of every step to samples.jsonl (an audit that resume trains each row once).</source>
      <translation>把每一步用到的数据行写入 samples.jsonl（用来核对继续训练时每行只训练一次）。</translation>
    </message>
    <message>
      <source>auto: bf16 on GPUs with native bf16 (Ampere and later), fp16 with a gradient scaler on older GPUs; on a CPU bf16 for LoRA-style methods where it has bf16 units (AVX512-BF16, AMX) and the model &gt;= 20M parameters, else fp32; fp32 on Apple MPS.</source>
      <translation>auto：原生支持 bf16 的 GPU（Ampere 及更新）用 bf16，较旧的 GPU 用 fp16 并配合梯度缩放；CPU 上，LoRA 类方法在 CPU 有 bf16 运算单元（AVX512-BF16、AMX）且模型参数不少于 2000 万时用 bf16，否则用 fp32；Apple MPS 用 fp32。</translation>
    </message>
    <message>
      <source>auto: fused AdamW on CUDA, paged 8-bit AdamW for QLoRA, AdamW elsewhere.</source>
      <translation>auto：CUDA 上用 fused AdamW，QLoRA 用分页 8 位 AdamW，其余用 AdamW。</translation>
    </message>
    <message>
      <source>freeze: how many of the last layers train (the rest stay frozen).</source>
      <translation>freeze：训练最后几层（其余层保持冻结）。</translation>
    </message>
    <message>
      <source>pref_loss sigmoid / simpo: the assumed share of pairs whose labels are flipped (conservative DPO).</source>
      <translation>pref_loss 为 sigmoid / simpo 时：假定标签被颠倒的偏好对比例（保守 DPO）。</translation>
    </message>
    <message>
      <source>pref_loss simpo: the target reward margin gamma.</source>
      <translation>pref_loss 为 simpo 时：目标奖励间隔 gamma。</translation>
    </message>
    <message>
      <source>sft: learn answers (loss on assistant tokens); pretrain: learn all tokens of plain text; dpo: prefer the chosen reply to the rejected one (pref_loss says how); kto: make good replies likelier and bad ones less likely (rows labelled good / bad, or pairs); grpo: sample a group of replies per prompt, score them with grpo_rewards and learn from the better ones (reinforcement learning with verifiable rewards).</source>
      <translation>sft：学习回答（只对助手 token 计算损失）；pretrain：学习纯文本的所有 token；dpo：让被选中的回答优于被拒绝的回答（方式由 pref_loss 决定）；kto：让好回答更可能、坏回答更不可能（标注好 / 坏的行，或偏好对）；grpo：对每个提示采样一组回答，用 grpo_rewards 打分，并向其中更好的回答学习（可验证奖励的强化学习）。</translation>
    </message>
    <message>
      <source>stage dpo / kto: beta, how far the tuned model may move from the reference (ORPO: the weight of the odds-ratio term).</source>
      <translation>stage 为 dpo / kto 时：beta，微调后的模型可以偏离参考模型多远（ORPO：几率比项的权重）。</translation>
    </message>
    <message>
      <source>stage dpo / kto: weight of an SFT term (mean token loss of the chosen replies) added to the preference loss (ORPO always has it at 1).</source>
      <translation>stage 为 dpo / kto 时：加到偏好损失上的 SFT 项（被选中回答的平均 token 损失）的权重（ORPO 始终为 1）。</translation>
    </message>
    <message>
      <source>stage dpo: sigmoid (DPO), ipo, hinge (SLiC), orpo (odds ratio plus SFT, no reference) or simpo (length-normalised, no reference).</source>
      <translation>stage 为 dpo 时：sigmoid（DPO）、ipo、hinge（SLiC）、orpo（几率比加 SFT，无参考模型）或 simpo（按长度归一化，无参考模型）。</translation>
    </message>
    <message>
      <source>stage grpo: a Python file of reward functions f(completion, prompt, reference) -&gt; float. It is code: it runs only when grpo_reward_file_sha256 is its hash.</source>
      <translation>grpo 阶段：奖励函数所在的 Python 文件，函数形如 f(completion, prompt, reference) -&gt; float。它是代码：只有 grpo_reward_file_sha256 等于它的哈希时才会运行。</translation>
    </message>
    <message>
      <source>stage grpo: clip range epsilon of the policy ratio.</source>
      <translation>grpo 阶段：策略比率的裁剪范围 epsilon。</translation>
    </message>
    <message>
      <source>stage grpo: completions sampled per prompt; each is judged against the others of its group.</source>
      <translation>grpo 阶段：每个提示采样的补全数；每个补全都与同组的其他补全比较。</translation>
    </message>
    <message>
      <source>stage grpo: most tokens sampled for one completion.</source>
      <translation>grpo 阶段：一个补全最多采样的 token 数。</translation>
    </message>
    <message>
      <source>stage grpo: policy updates per generation batch, all in one step (more reuse the samples; the clip range keeps the updates close).</source>
      <translation>grpo 阶段：每批生成之后的策略更新次数，都在同一步内完成（次数越多，样本复用越多；裁剪范围让各次更新不偏离太远）。</translation>
    </message>
    <message>
      <source>stage grpo: rewards and their weights, name:weight separated by commas. Built in: exact, numeric (vs the row's reference answer), format (grpo_format_regex), length (penalty), ends_turn; other names are functions of grpo_reward_file.</source>
      <translation>grpo 阶段：奖励及其权重，写成 名称:权重，用逗号分隔。内置：exact、numeric（与该行的参考答案比较）、format（grpo_format_regex）、length（长度惩罚）、ends_turn；其他名称是 grpo_reward_file 中的函数。</translation>
    </message>
    <message>
      <source>stage grpo: sampling temperature of the completions.</source>
      <translation>grpo 阶段：采样补全时的温度。</translation>
    </message>
    <message>
      <source>stage grpo: the pattern the format reward asks the whole completion to match (partial credit for the characters of its literal start, in order, at the beginning).</source>
      <translation>grpo 阶段：格式奖励要求整个补全匹配的正则表达式（补全开头按顺序含有其字面前缀的字符时给部分分）。</translation>
    </message>
    <message>
      <source>stage grpo: the sha256 of grpo_reward_file you read and trust (the app asks and fills it).</source>
      <translation>grpo 阶段：你读过并信任的 grpo_reward_file 的 sha256（应用会询问并自动填写）。</translation>
    </message>
    <message>
      <source>stage grpo: weight of the KL penalty that keeps the model near the reference (0 = none, no reference model needed).</source>
      <translation>grpo 阶段：让模型保持接近参考模型的 KL 惩罚权重（0 = 不惩罚，也不需要参考模型）。</translation>
    </message>
    <message>
      <source>stage grpo: where exact / numeric find the answer in a completion (its first group); empty: the whole completion.</source>
      <translation>grpo 阶段：exact / numeric 在补全中找答案的正则（取第一个分组）；留空：整个补全。</translation>
    </message>
  </context>
  <context>
    <name>RunsList</name>
    <message>
      <source>Follow</source>
      <translation>跟踪</translation>
    </message>
    <message>
      <source>Method</source>
      <translation>方法</translation>
    </message>
    <message>
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <source>Open folder</source>
      <translation>打开文件夹</translation>
    </message>
    <message>
      <source>Past runs in {folder}</source>
      <translation>{folder} 中的历史运行</translation>
    </message>
    <message>
      <source>Refresh</source>
      <translation>刷新</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Run (tick to overlay)</source>
      <translation>运行（勾选以叠加曲线）</translation>
    </message>
    <message>
      <source>Started</source>
      <translation>开始时间</translation>
    </message>
    <message>
      <source>Status</source>
      <translation>状态</translation>
    </message>
    <message>
      <source>Step</source>
      <translation>步数</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>finished</source>
      <translation>已完成</translation>
    </message>
    <message>
      <source>running</source>
      <translation>运行中</translation>
    </message>
    <message>
      <source>stopped</source>
      <translation>已停止</translation>
    </message>
    <message>
      <source>unknown</source>
      <translation>未知</translation>
    </message>
  </context>
  <context>
    <name>ScatterCanvas</name>
    <message>
      <source>Pick what to map above (tokens, words or your sentences) and press the button: each point is one embedding, close points mean similar things to the model.</source>
      <translation>在上方选择要映射的内容（词元、词语或你的句子）并点击按钮：每个点是一个嵌入向量，距离近的点在模型看来意思相近。</translation>
    </message>
  </context>
  <context>
    <name>StatusBar</name>
    <message>
      <source> (+{n} more)</source>
      <translation>（另有 {n} 项）</translation>
    </message>
    <message>
      <source>Device: CPU ({name})</source>
      <translation>设备：CPU（{name}）</translation>
    </message>
    <message>
      <source>Device: detecting…</source>
      <translation>设备：检测中…</translation>
    </message>
    <message>
      <source>Device: unknown</source>
      <translation>设备：未知</translation>
    </message>
    <message>
      <source>Device: {name}, {total}</source>
      <translation>设备：{name}，{total}</translation>
    </message>
    <message>
      <source>GPU {i}: {used} of {total}</source>
      <translation>GPU {i}：{used} / {total}</translation>
    </message>
    <message>
      <source>GPU: {used} of {total}</source>
      <translation>显存：{used} / {total}</translation>
    </message>
    <message>
      <source>Idle</source>
      <translation>空闲</translation>
    </message>
    <message>
      <source>Memory: {rss}</source>
      <translation>内存：{rss}</translation>
    </message>
    <message>
      <source>⚠ The machine check failed: {reason}</source>
      <translation>⚠ 本机检查失败：{reason}</translation>
    </message>
    <message>
      <source>⚠ {what}. Fix: {fix}</source>
      <translation>⚠ {what}。解决办法：{fix}</translation>
    </message>
  </context>
  <context>
    <name>SweepDialog</name>
    <message>
      <source>One key per line with the values to try, e.g. &lt;tt&gt;learning_rate=1e-4,2e-4&lt;/tt&gt;. Every combination becomes a run in its own folder under&lt;br&gt;&lt;tt&gt;{dir}&lt;/tt&gt;, named by its values; the runs wait in the queue and train one after another.</source>
      <translation>每行一个配置键及要尝试的取值，例如 &lt;tt&gt;learning_rate=1e-4,2e-4&lt;/tt&gt;。每种组合成为一个运行，位于&lt;br&gt;&lt;tt&gt;{dir}&lt;/tt&gt; 下以其取值命名的文件夹中；这些运行在队列中等待，依次训练。</translation>
    </message>
    <message>
      <source>Only this many, drawn at random (0 = all):</source>
      <translation>只随机抽取这么多个（0 = 全部）：</translation>
    </message>
    <message>
      <source>Sweep</source>
      <translation>参数扫描</translation>
    </message>
  </context>
  <context>
    <name>TokenBrowser</name>
    <message>
      <source> (chat template)</source>
      <translation>（对话模板）</translation>
    </message>
    <message>
      <source> (special)</source>
      <translation>（特殊词元）</translation>
    </message>
    <message>
      <source>token {i}: id {id}, {token!r}{kind}
characters {a}–{b}: {chars!r}</source>
      <translation>词元 {i}：id {id}，{token!r}{kind}
字符 {a}–{b}：{chars!r}</translation>
    </message>
  </context>
  <context>
    <name>TokenLines</name>
    <message>
      <source>Click a row of the heatmap to pick a token</source>
      <translation>点击热力图中的一行来选择词元</translation>
    </message>
  </context>
  <context>
    <name>TokenPreview</name>
    <message>
      <source>, {cut} past max_length</source>
      <translation>，其中 {cut} 个超出 max_length</translation>
    </message>
    <message>
      <source>Choose a model on the Model page to see the row through its chat template, with the trained tokens marked.</source>
      <translation>在“模型与方法”页选择模型后，这里会按模型的对话模板显示该行，并标出参与训练的 token。</translation>
    </message>
    <message>
      <source>Chosen</source>
      <translation>被选中的</translation>
    </message>
    <message>
      <source>Rejected</source>
      <translation>被拒绝的</translation>
    </message>
    <message>
      <source>Row {row}</source>
      <translation>第 {row} 行</translation>
    </message>
    <message>
      <source>Row {row}: {tokens} tokens, {trained} trained</source>
      <translation>第 {row} 行：{tokens} 个 token，其中 {trained} 个参与训练</translation>
    </message>
    <message>
      <source>cut off by max_length</source>
      <translation>被 max_length 截掉</translation>
    </message>
    <message>
      <source>masked (no loss)</source>
      <translation>已屏蔽（不计损失）</translation>
    </message>
    <message>
      <source>trained (loss)</source>
      <translation>参与训练（计算损失）</translation>
    </message>
    <message>
      <source>{side} reply</source>
      <translation>{side}回答</translation>
    </message>
    <message>
      <source>… {n} more tokens not shown</source>
      <translation>… 另有 {n} 个 token 未显示</translation>
    </message>
  </context>
  <context>
    <name>TokenizerView</name>
    <message>
      <source>As a one-turn chat (your text as the user, “OK.” as the reply), the template adds {n} tokens around {m} tokens of content:</source>
      <translation>作为一轮对话（你的文本作为用户消息，“OK.” 作为回复），模板在 {m} 个内容词元周围添加了 {n} 个词元：</translation>
    </message>
    <message>
      <source>Choose a model first.</source>
      <translation>请先选择模型。</translation>
    </message>
    <message>
      <source>Colours alternate per token; &lt;span style='background:{s}'&gt;&amp;nbsp;special&amp;nbsp;&lt;/span&gt; &lt;span style='background:{t}'&gt;&amp;nbsp;added by the chat template&amp;nbsp;&lt;/span&gt;. Hover a token for its id.</source>
      <translation>每个词元交替着色；&lt;span style='background:{s}'&gt;&amp;nbsp;特殊词元&amp;nbsp;&lt;/span&gt; &lt;span style='background:{t}'&gt;&amp;nbsp;对话模板添加的词元&amp;nbsp;&lt;/span&gt;。鼠标悬停可查看词元 id。</translation>
    </message>
    <message>
      <source>Show token ids</source>
      <translation>显示词元 id</translation>
    </message>
    <message>
      <source>This tokenizer has no chat template: only the special tokens above are added.</source>
      <translation>该分词器没有对话模板：只添加上面的特殊词元。</translation>
    </message>
    <message>
      <source>Type or paste text: English and Chinese split very differently</source>
      <translation>输入或粘贴文本：英文和中文的切分方式截然不同</translation>
    </message>
    <message>
      <source>{model}: {tokens} tokens for {chars} characters and {words} words: {per_char:.2f} tokens per character, {per_word:.2f} per word</source>
      <translation>{model}：{chars} 个字符、{words} 个词共 {tokens} 个词元：每字符 {per_char:.2f} 个词元，每词 {per_word:.2f} 个</translation>
    </message>
  </context>
  <context>
    <name>Tour</name>
    <message>
      <source>Tour finished: {line}</source>
      <translation>导览结束：{line}</translation>
    </message>
    <message>
      <source>Tour: creating a starter model…</source>
      <translation>导览：正在创建入门模型…</translation>
    </message>
  </context>
  <context>
    <name>TrainPanel</name>
    <message>
      <source>Cannot start: {reason}</source>
      <translation>无法开始：{reason}</translation>
    </message>
    <message>
      <source>Choose a run to resume in the list of past runs.</source>
      <translation>请在历史运行列表中选择要继续的运行。</translation>
    </message>
    <message>
      <source>Completions</source>
      <translation>补全</translation>
    </message>
    <message>
      <source>Continue the selected (or last) run from its latest checkpoint.</source>
      <translation>从最近的检查点继续所选（或上一次的）运行。</translation>
    </message>
    <message>
      <source>Continue the selected (or last) stopped or failed run from its checkpoint with other settings, e.g. a smaller micro-batch after running out of memory.</source>
      <translation>用另一组设置从检查点继续所选（或上一次的）已停止或失败的运行，例如内存不足后改用更小的微批次。</translation>
    </message>
    <message>
      <source>Error: {reason}</source>
      <translation>错误：{reason}</translation>
    </message>
    <message>
      <source>Events</source>
      <translation>事件</translation>
    </message>
    <message>
      <source>Export launch script…</source>
      <translation>导出启动脚本…</translation>
    </message>
    <message>
      <source>Loading the model and the data…</source>
      <translation>正在加载模型和数据…</translation>
    </message>
    <message>
      <source>Not started: the reward file was not allowed.</source>
      <translation>未开始：奖励文件未被允许。</translation>
    </message>
    <message>
      <source>Out of memory: “Resume with changes…” continues from the checkpoint with a smaller micro-batch.</source>
      <translation>内存不足：“更改设置后继续…”会用更小的微批次从检查点接着训练。</translation>
    </message>
    <message>
      <source>Queue these settings with several values of some keys (a grid); the runs train one after another, the Experiments page compares them.</source>
      <translation>以当前设置为基础，为若干配置键尝试多个取值（网格）并加入队列；这些运行依次训练，在“实验”页比较。</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Resume with a smaller micro-batch…</source>
      <translation>用更小的微批次继续…</translation>
    </message>
    <message>
      <source>Resume with changes…</source>
      <translation>更改设置后继续…</translation>
    </message>
    <message>
      <source>Run folder: {path}</source>
      <translation>运行文件夹：{path}</translation>
    </message>
    <message>
      <source>Save a checkpoint, then stop. Resume later.</source>
      <translation>先保存检查点再停止，之后可以继续。</translation>
    </message>
    <message>
      <source>Start</source>
      <translation>开始</translation>
    </message>
    <message>
      <source>Start in background</source>
      <translation>在后台开始</translation>
    </message>
    <message>
      <source>Started in the background; this window follows it. Closing the window leaves it running.</source>
      <translation>已在后台开始；本窗口会跟踪它。关闭窗口不会中断训练。</translation>
    </message>
    <message>
      <source>Started {n} training processes ({strategy}) in the background; this window follows process 0.</source>
      <translation>已在后台启动 {n} 个训练进程（{strategy}）；本窗口跟随 0 号进程。</translation>
    </message>
    <message>
      <source>Step {step} of {total}</source>
      <translation>第 {step} / {total} 步</translation>
    </message>
    <message>
      <source>Step {step}: eval loss {loss:.4f}, perplexity {ppl:.2f}</source>
      <translation>第 {step} 步：评估损失 {loss:.4f}，困惑度 {ppl:.2f}</translation>
    </message>
    <message>
      <source>Step {step}: {event}</source>
      <translation>第 {step} 步：{event}</translation>
    </message>
    <message>
      <source>Stop</source>
      <translation>停止</translation>
    </message>
    <message>
      <source>Stopped after saving a checkpoint: press Resume to continue.</source>
      <translation>已保存检查点并停止：点击“继续”可接着训练。</translation>
    </message>
    <message>
      <source>Sweep…</source>
      <translation>参数扫描…</translation>
    </message>
    <message>
      <source>The run failed: {reason}</source>
      <translation>运行失败：{reason}</translation>
    </message>
    <message>
      <source>The run finished.</source>
      <translation>运行已完成。</translation>
    </message>
    <message>
      <source>The run's events appear here.</source>
      <translation>运行中的事件会显示在这里。</translation>
    </message>
    <message>
      <source>Train in a separate process that keeps running when this window closes; the curves follow it live.</source>
      <translation>在独立进程中训练，关闭本窗口后仍会继续；曲线会实时跟踪它。</translation>
    </message>
    <message>
      <source>Train in this window, live.</source>
      <translation>在本窗口中实时训练。</translation>
    </message>
    <message>
      <source>Write a folder that runs these settings on a cluster: config.yaml, a torchrun command for each machine and a Slurm sbatch file.</source>
      <translation>写出一个文件夹，用来在集群上按这些设置训练：config.yaml、每台机器的 torchrun 命令和一个 Slurm sbatch 文件。</translation>
    </message>
    <message>
      <source>about {t} left</source>
      <translation>约剩 {t}</translation>
    </message>
    <message>
      <source>checkpoint saved</source>
      <translation>已保存检查点</translation>
    </message>
    <message>
      <source>downloading the model</source>
      <translation>正在下载模型</translation>
    </message>
    <message>
      <source>failed</source>
      <translation>失败</translation>
    </message>
    <message>
      <source>finished</source>
      <translation>已完成</translation>
    </message>
    <message>
      <source>loss {loss:.4f}</source>
      <translation>损失 {loss:.4f}</translation>
    </message>
    <message>
      <source>resumed</source>
      <translation>已继续</translation>
    </message>
    <message>
      <source>reward {r:.3f}</source>
      <translation>奖励 {r:.3f}</translation>
    </message>
    <message>
      <source>started</source>
      <translation>已开始</translation>
    </message>
    <message>
      <source>stopped</source>
      <translation>已停止</translation>
    </message>
    <message>
      <source>{s:.2f} s/step</source>
      <translation>{s:.2f} 秒/步</translation>
    </message>
  </context>
  <context>
    <name>WelcomePage</name>
    <message>
      <source>1. &lt;b&gt;Data&lt;/b&gt;: drop a .json, .jsonl, .csv, .parquet or .txt file anywhere on this window; Studio detects its format and points at rows it cannot train on.&lt;br&gt;2. &lt;b&gt;Model and method&lt;/b&gt;: a model folder or hub id, then LoRA, QLoRA, full fine-tuning and more, with the memory each needs.&lt;br&gt;3. &lt;b&gt;Train&lt;/b&gt;: watch loss, learning rate and memory live; Stop saves a checkpoint, Resume continues the same curve.</source>
      <translation>1. &lt;b&gt;数据&lt;/b&gt;：把 .json、.jsonl、.csv、.parquet 或 .txt 文件拖到窗口任意位置；Studio 会识别格式，并指出无法训练的行。&lt;br&gt;2. &lt;b&gt;模型与方法&lt;/b&gt;：选择模型文件夹或 Hub 名称，再选 LoRA、QLoRA、全参数微调等方法，并查看各自需要的显存。&lt;br&gt;3. &lt;b&gt;训练&lt;/b&gt;：实时查看损失、学习率和内存；“停止”会保存检查点，“继续”接着同一条曲线训练。</translation>
    </message>
    <message>
      <source>Chat with it</source>
      <translation>与它对话</translation>
    </message>
    <message>
      <source>Creates a small starter model and trains it for a few steps on a sample dataset, showing each page on the way. Takes about a minute on a CPU.</source>
      <translation>创建一个小型入门模型，用示例数据集训练几步，并依次展示每个页面。在 CPU 上大约需要一分钟。</translation>
    </message>
    <message>
      <source>Export…</source>
      <translation>导出…</translation>
    </message>
    <message>
      <source>Fine-tune a language model on your own computer and watch it learn.</source>
      <translation>在自己的电脑上微调语言模型，亲眼看着它学习。</translation>
    </message>
    <message>
      <source>First run: the starter model learns its name</source>
      <translation>第一次运行：让入门模型学会它的名字</translation>
    </message>
    <message>
      <source>Follow a run folder…</source>
      <translation>跟踪运行文件夹…</translation>
    </message>
    <message>
      <source>Go to training</source>
      <translation>前往训练</translation>
    </message>
    <message>
      <source>No runs yet. Start with the first run above (about a minute on a CPU), or drop a dataset on the window and press Start on the Train page.</source>
      <translation>还没有运行记录。可以先点上方的“第一次运行”（CPU 上约一分钟），或把数据集拖到窗口上，再在“训练”页点击“开始”。</translation>
    </message>
    <message>
      <source>Open a dataset…</source>
      <translation>打开数据集…</translation>
    </message>
    <message>
      <source>Recent runs</source>
      <translation>最近的运行</translation>
    </message>
    <message>
      <source>Resume</source>
      <translation>继续</translation>
    </message>
    <message>
      <source>Show curves</source>
      <translation>查看曲线</translation>
    </message>
    <message>
      <source>Start here</source>
      <translation>从这里开始</translation>
    </message>
    <message>
      <source>Tip: everything here also runs without the window: studio --help (or python main.py --help).</source>
      <translation>提示：这里的所有功能也可以不开窗口运行：studio --help（或 python main.py --help）。</translation>
    </message>
    <message>
      <source>Welcome to Studio</source>
      <translation>欢迎使用 Studio</translation>
    </message>
  </context>
  <context>
    <name>_QueueDialog</name>
    <message>
      <source>Queue and run</source>
      <translation>加入队列并运行</translation>
    </message>
  </context>
</TS>
